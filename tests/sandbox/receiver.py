"""A webhook receiver for the tests: a tiny HTTP server on a free loopback port, in a thread.

It answers the statuses it is given in turn (then 200), after ``delay`` seconds, keeps every
request it got, and checks signatures the way a real receiver would.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Delivery:
    """One request the receiver got, and the status it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    answered: int
    at: float

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


def signature_ok(delivery: Delivery, secret: str, tolerance: float = 300) -> bool:
    """``Webhook-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`` holds (billing:
    the same under Stripe's name, ``Stripe-Signature``)."""
    header = delivery.headers.get("webhook-signature") or delivery.headers["stripe-signature"]
    parts = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(parts["t"])
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + delivery.body, hashlib.sha256
    ).hexdigest()
    return abs(time.time() - timestamp) <= tolerance and hmac.compare_digest(expected, parts["v1"])


class WebhookReceiver:
    def __init__(self, statuses: list[int] | None = None, *, held: bool = False) -> None:
        """`held`: each request waits (up to 30 s) until `release()` before it is answered."""
        self.statuses = list(statuses or [])
        self._released = threading.Event()
        if not held:
            self._released.set()
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver._released.wait(timeout=30)
                status = receiver._record(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def release(self) -> None:
        """Let held requests (and every later one) through."""
        self._released.set()

    def answer(self, *statuses: int) -> None:
        """Answer these statuses to the next requests, in order, then 200 again."""
        with self._lock:
            self.statuses = list(statuses)

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._arrived:
            status = self.statuses.pop(0) if self.statuses else 200
            lowered = {name.lower(): value for name, value in headers.items()}
            self.deliveries.append(Delivery(path, lowered, body, status, time.monotonic()))
            self._arrived.notify_all()
            return status

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """The first ``count`` deliveries, waiting for them to arrive."""
        with self._arrived:
            arrived = self._arrived.wait_for(lambda: len(self.deliveries) >= count, timeout)
            assert arrived, f"expected {count} deliveries, got {len(self.deliveries)}"
            return list(self.deliveries[:count])

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
