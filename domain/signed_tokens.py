"""Tokens signed with HMAC-SHA256, as the emailed approval links and the codec sign-in links use
them: `<payload>.<signature>`, both base64url without padding; the payload is JSON, the signature
the HMAC of `<context><payload>` under a key. The MAC covers the payload *as encoded* and is
compared as encoded, so changing any one character of a token breaks it. No I/O here.
"""

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from typing import Any

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,2000}\.[A-Za-z0-9_-]{43}$")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def mac(key: str, context: bytes, payload: str) -> str:
    return _b64(hmac.new(key.encode(), context + payload.encode("ascii"), hashlib.sha256).digest())


def seal(body: dict[str, Any], key: str, context: bytes) -> str:
    """`body` as a token signed under `key`."""
    payload = _b64(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    return f"{payload}.{mac(key, context, payload)}"


def unseal(token: str, keys: Sequence[str], context: bytes) -> Any:
    """The JSON body of a token signed under one of `keys`; ValueError when it is malformed or
    signed otherwise."""
    if not _TOKEN.match(token):
        raise ValueError("not a signed token")
    payload, signature = token.split(".")
    if not any(hmac.compare_digest(mac(key, context, payload), signature) for key in keys):
        raise ValueError("not signed with this key")
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def digest(token: str) -> str:
    """What a single-use record stores instead of the token."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()
