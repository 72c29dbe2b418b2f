"""The signature scheme of every system's webhooks: `t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`."""

import hashlib
import hmac
import time
from collections.abc import Sequence

HEADER = "Webhook-Signature"
# Billing speaks Stripe, whose events carry the same scheme under Stripe's header name.
HEADERS = {"billing": "Stripe-Signature"}


def header_for(system: str) -> str:
    return HEADERS.get(system, HEADER)


class SignatureError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The header value a provider sends (used by tests and by our own tools)."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(
    header: str | None,
    body: bytes,
    secrets: Sequence[str],
    *,
    tolerance_seconds: int,
    now: float | None = None,
    name: str = HEADER,
) -> None:
    """Raise SignatureError unless one `v1` matches one of the secrets (several during rotation)."""
    if not header:
        raise SignatureError("SIGNATURE_MISSING", f"the {name} header is missing")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("SIGNATURE_MALFORMED", f"the {name} header needs t= and v1=")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise SignatureError(
            "SIGNATURE_STALE", f"the signature timestamp is more than {tolerance_seconds} s off"
        )
    expected = [_mac(secret, timestamp, body) for secret in secrets]
    # Compare every pair, so the time taken does not say which secret or position matched.
    matched = False
    for mac in expected:
        for candidate in candidates:
            matched |= hmac.compare_digest(mac, candidate)
    if not matched:
        raise SignatureError("SIGNATURE_INVALID", "the signature does not match the body")


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
