"""Fault injection: make a system slow, flaky, rate-limited or down, on demand.

Rules are set with ``PUT /_admin/faults/{system}`` (one rule or a list; replaces that
system's rules) and kept in memory, so a restart clears them. They apply to system
routes only, before authentication and before the handler runs, so nothing is written
when a fault fires.

Rule fields (all optional):

- ``path``: a prefix inside the system, matched on whole segments: ``/vendors`` matches
  ``/erp/vendors``, ``/erp/vendors/validate`` and ``/erp/vendors/V-000001``, not
  ``/erp/vendors-archive``. A trailing ``$`` asks for that path exactly: ``/vendors$``
  matches ``/erp/vendors`` only. Absent: every path of the system.
- ``method``: e.g. ``POST`` (any case). Absent: every method.
- ``headers``: header name -> prefix; the request matches when each named header starts with
  its prefix. ``{"Idempotency-Key": "invoice-INV-1"}`` scopes a rule to one run's creates
  (their keys begin with its workflow id), so no other run meets or uses up the fault.
- ``error_rate`` (0..1): chance that a matching request fails. Default 1.0, except for a
  rule that only sets ``latency_ms`` (no ``status``, ``code``, ``message``,
  ``retry_after`` or ``down``): that rule only slows requests down (rate 0.0).
- ``status`` (400..599, default 503), ``code`` (default ``INJECTED_FAULT``, or
  ``RATE_LIMITED`` for 429), ``message``, ``retry_after`` (sent as ``Retry-After``: seconds, or
  an HTTP date such as ``Wed, 21 Oct 2026 07:28:00 GMT``).
- ``latency_ms``: added delay on every matching request, failing or not.
- ``down``: answer 503 ``SYSTEM_DOWN`` to every matching request (ignores ``error_rate``,
  ``status`` and ``code``).
- ``after_commit``: the ambiguous write. The system serves the request (the write is
  committed), then the caller gets the rule's error instead of the answer (``"error"``) or
  the connection is dropped half-way through the answer (``"drop"``).
- ``malformed``: answer ``200`` with a body that is not the system's answer (truncated JSON),
  without serving the request: nothing is written.
- ``count``: the rule applies to the next N matching requests only, then is spent.
- ``seed``: seeds the rule's random draws so an ``error_rate`` below 1 is reproducible.

Rules are tried in order; each matching one adds its latency, and the first that fails
the request decides the answer (later rules are not consulted for that request).
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.errors import ApiError, validation_error_from

_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
_ERROR_FIELDS = {"status", "code", "message", "retry_after", "down", "after_commit", "malformed"}
# The body of a ``malformed`` answer: JSON cut off half-way, as a broken proxy would deliver it.
MALFORMED_BODY = b'{"id": "INJECTED-MALFORMED", "status": '
# Said (in part) before a ``drop`` closes the connection: the answer never arrives whole.
_DROPPED_LENGTH = 4096


class FaultRule(BaseModel):
    """One fault rule as sent to ``PUT /_admin/faults/{system}``."""

    model_config = ConfigDict(extra="forbid")

    error_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    status: int = Field(default=503, ge=400, le=599)
    code: str | None = Field(default=None, min_length=1, max_length=64)
    message: str | None = Field(default=None, max_length=500)
    retry_after: int | str | None = None
    latency_ms: int = Field(default=0, ge=0, le=120_000)
    down: bool = False
    after_commit: Literal["error", "drop"] | None = None
    malformed: bool = False
    path: str | None = Field(default=None, pattern=r"^/", max_length=500)
    method: str | None = None
    headers: dict[str, str] = Field(default_factory=dict, max_length=10)
    count: int | None = Field(default=None, ge=1)
    seed: int | None = None

    @field_validator("retry_after")
    @classmethod
    def _seconds_or_http_date(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and value < 0:
            raise ValueError("must be seconds (0 or more) or an HTTP date")
        if isinstance(value, str):
            try:
                parsedate_to_datetime(value)
            except (TypeError, ValueError):
                raise ValueError("must be seconds (0 or more) or an HTTP date") from None
        return value

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.upper() not in _METHODS:
            raise ValueError(f"must be one of {', '.join(sorted(_METHODS))}")
        return value.upper()

    def effective_error_rate(self) -> float:
        if self.down:
            return 1.0
        if self.error_rate is not None:
            return self.error_rate
        latency_only = self.latency_ms > 0 and not (self.model_fields_set & _ERROR_FIELDS)
        return 0.0 if latency_only else 1.0

    def matches(self, method: str, path: str, headers: Mapping[str, str]) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        if any(
            not headers.get(name.lower(), "").startswith(prefix)
            for name, prefix in self.headers.items()
        ):
            return False
        if self.path is None:
            return True
        if self.path.endswith("$"):
            return path == self.path[:-1]
        prefix = self.path.rstrip("/")
        return prefix == "" or path == prefix or path.startswith(prefix + "/")

    def error(self, system: str) -> ApiError:
        headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
        if self.down:
            message = self.message or f"{system} is down (injected fault)"
            return ApiError(503, "SYSTEM_DOWN", message, headers, stripe=system == "billing")
        code = self.code or ("RATE_LIMITED" if self.status == 429 else "INJECTED_FAULT")
        message = self.message or f"{system} failed with an injected fault"
        # Billing emulates Stripe: its faults have Stripe's error shape too.
        return ApiError(self.status, code, message, headers, stripe=system == "billing")


_RULES = TypeAdapter(list[FaultRule])


def parse_rules(payload: Any) -> list[FaultRule]:
    """A rule object or a list of them, or a 422 naming the bad field."""
    rules = payload if isinstance(payload, list) else [payload]
    try:
        return _RULES.validate_python(rules)
    except ValidationError as exc:
        raise validation_error_from(exc, "rules") from exc


@dataclass
class _ActiveRule:
    rule: FaultRule
    random: random.Random
    remaining: int | None
    matched: int = 0
    fired: int = 0

    def view(self) -> dict[str, Any]:
        return {
            **self.rule.model_dump(),
            "error_rate": self.rule.effective_error_rate(),
            "code": self.rule.error("").code,
            "remaining": self.remaining,
            "matched": self.matched,
            "fired": self.fired,
        }


@dataclass(frozen=True)
class FaultDecision:
    latency_ms: int = 0
    error: ApiError | None = None
    # What the failing rule does instead of (or after) serving the request.
    after_commit: str | None = None
    malformed: bool = False


@dataclass
class FaultBook:
    """The fault rules of every system, with their remaining counts."""

    _rules: dict[str, list[_ActiveRule]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def replace(self, system: str, rules: list[FaultRule]) -> None:
        active = [_ActiveRule(rule, random.Random(rule.seed), rule.count) for rule in rules]
        with self._lock:
            if active:
                self._rules[system] = active
            else:
                self._rules.pop(system, None)

    def clear(self, system: str | None = None) -> None:
        with self._lock:
            if system is None:
                self._rules.clear()
            else:
                self._rules.pop(system, None)

    def view(self) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            return {name: [rule.view() for rule in rules] for name, rules in self._rules.items()}

    def decide(
        self, system: str, method: str, path: str, headers: Mapping[str, str] | None = None
    ) -> FaultDecision:
        """Consume the matching rules for one request: total latency and the error, if any."""
        latency = 0
        with self._lock:
            for active in self._rules.get(system, []):
                if active.remaining == 0 or not active.rule.matches(method, path, headers or {}):
                    continue
                active.matched += 1
                if active.remaining is not None:
                    active.remaining -= 1
                latency += active.rule.latency_ms
                rate = active.rule.effective_error_rate()
                if rate > 0 and (rate >= 1 or active.random.random() < rate):
                    active.fired += 1
                    rule = active.rule
                    after_commit = None if rule.down else rule.after_commit
                    malformed = rule.malformed and not rule.down and after_commit is None
                    return FaultDecision(latency, rule.error(system), after_commit, malformed)
        return FaultDecision(latency)


class FaultMiddleware:
    """Applies the fault book to requests under a system's prefix (never ``/_admin``)."""

    def __init__(self, app: ASGIApp, book: FaultBook, systems: frozenset[str]) -> None:
        self.app = app
        self.book = book
        self.systems = systems

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        system, _, rest = str(scope["path"]).lstrip("/").partition("/")
        if system not in self.systems:
            await self.app(scope, receive, send)
            return
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", [])
        }
        decision = self.book.decide(system, str(scope["method"]), "/" + rest, headers)
        if decision.latency_ms:
            # Like a real system, take the whole request first and then be slow: a caller that
            # gives up (or dies) meanwhile does not stop the write from happening.
            receive = await _buffered(receive)
            await asyncio.sleep(decision.latency_ms / 1000)
        if decision.after_commit is not None:
            await self.app(scope, receive, _swallowed)  # served and committed; answer lost
            if decision.after_commit == "drop":
                await _drop(send)
            assert decision.error is not None
            await decision.error.response()(scope, receive, send)
            return
        if decision.malformed:
            await _malformed(send)
            return
        if decision.error is not None:
            await decision.error.response()(scope, receive, send)
            return
        await self.app(scope, receive, send)


class ConnectionDropped(Exception):
    """Raised after part of an answer was sent: the server closes the connection mid-answer."""


async def _swallowed(message: Message) -> None:
    """The system's own answer to an ``after_commit`` request goes nowhere."""


async def _drop(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(_DROPPED_LENGTH).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b'{"id": ', "more_body": True})
    # An exception once the answer has started makes the server close the connection.
    raise ConnectionDropped("connection dropped after the write (injected fault)")


async def _malformed(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(MALFORMED_BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": MALFORMED_BODY})


async def _buffered(receive: Receive) -> Receive:
    """Read the request body now; replay it to the app later, even after a disconnect."""
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay
