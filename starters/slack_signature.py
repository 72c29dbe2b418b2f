"""Slack's request signature: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<ts>:<raw body>">`
with `X-Slack-Request-Timestamp`, checked against each signing secret (several during a
rotation)."""

import hashlib
import hmac
import time
from collections.abc import Sequence

from domain.validation import ascii_int
from starters.webhooks.signature import SignatureError

SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
VERSION = "v0"


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The `X-Slack-Signature` value Slack sends (the sandbox's page and the tests use it)."""
    return f"{VERSION}={_mac(secret, timestamp, body)}"


def verify(
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    secrets: Sequence[str],
    *,
    tolerance_seconds: int,
    now: float | None = None,
) -> None:
    """Raise SignatureError unless the signature matches one secret and the timestamp is
    recent (an old request replayed is refused)."""
    if not signature or not timestamp:
        raise SignatureError(
            "SIGNATURE_MISSING", f"the {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header is missing"
        )
    version, _, given = signature.partition("=")
    sent_at = ascii_int(timestamp, max_digits=12)
    if version != VERSION or not given or not given.isascii() or sent_at is None:
        raise SignatureError(
            "SIGNATURE_MALFORMED",
            f"{SIGNATURE_HEADER} must be v0=<hex> and {TIMESTAMP_HEADER} a Unix time",
        )
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_seconds:
        raise SignatureError(
            "SIGNATURE_STALE", f"the request timestamp is more than {tolerance_seconds} s off"
        )
    matched = False
    for secret in secrets:  # every secret compared: the time taken tells nothing
        matched |= hmac.compare_digest(_mac(secret, sent_at, body), given)
    if not matched:
        raise SignatureError("SIGNATURE_INVALID", "the signature does not match the body")


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{VERSION}:{timestamp}:".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
