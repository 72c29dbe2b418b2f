"""Approve-by-link tokens: what a link may decide, signed with HMAC-SHA256, and how it is checked.

A token (domain/signed_tokens.py) carries the JSON of `LinkClaims`, signed with context
`approval-link.v1.` under the signing key (Vault `links/signing-key`). No I/O here: callers
bring the keys.
"""

import hashlib
import hmac
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain import signed_tokens
from domain.approvals import Decision

# Where the keys live in Vault (under the prefix), as `{"keys": ["<newest>", "<older>", ...]}`:
# the first signs, every one verifies, so a key can be rotated without breaking links in flight.
SIGNING_KEY_PATH = "links/signing-key"
LINK_PATH = "/inbox/links"
_CONTEXT = b"approval-link.v1."


class LinkClaims(BaseModel):
    """What a link lets its holder do: one decision, on one approval, as one approver, until
    `expires_at` (unix seconds). `nonce` makes every issued link distinct."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    workflow_id: str = Field(alias="wf", min_length=1)
    approval_id: str = Field(alias="ap", min_length=1)
    approver_id: str = Field(alias="by", min_length=1)
    decision: Decision = Field(alias="d")
    expires_at: int = Field(alias="exp")
    nonce: str = Field(alias="n", min_length=16)

    @property
    def expires(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, UTC)


class LinkProblem(StrEnum):
    INVALID = "LINK_INVALID"  # malformed, tampered with, or signed with a key we do not hold
    EXPIRED = "LINK_EXPIRED"
    USED = "LINK_USED"


class LinkRefused(Exception):
    """The link cannot be used; `problem` says why (the message is for people)."""

    MESSAGES = {
        LinkProblem.INVALID: "This link is not valid: it was changed, or it was not issued "
        "by this back office.",
        LinkProblem.EXPIRED: "This link has expired.",
        LinkProblem.USED: "This link has already been used.",
    }

    def __init__(self, problem: LinkProblem) -> None:
        super().__init__(self.MESSAGES[problem])
        self.problem = problem


def signing_keys(record: dict[str, Any]) -> list[str]:
    """The keys of the Vault record, newest first; raises ValueError when there are none."""
    keys = record.get("keys")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
        raise ValueError(f'the Vault record {SIGNING_KEY_PATH} needs {{"keys": ["<key>", ...]}}')
    return list(keys)


def nonce_for(key: str, *parts: str) -> str:
    """A nonce derived from `parts` under the key: unpredictable without the key, the same for
    the same parts (so a retried email carries the same link)."""
    material = "\x1f".join(("nonce", *parts)).encode()
    return hmac.new(key.encode(), material, hashlib.sha256).hexdigest()[:32]


def sign(claims: LinkClaims, key: str) -> str:
    return signed_tokens.seal(claims.model_dump(by_alias=True, mode="json"), key, _CONTEXT)


def verify(token: str, keys: list[str], now: datetime) -> LinkClaims:
    """The claims of a token signed with one of `keys` and not expired at `now`.

    Raises LinkRefused: INVALID before EXPIRED, so a tampered expired link says it is invalid.
    """
    try:
        claims = LinkClaims.model_validate(signed_tokens.unseal(token, keys, _CONTEXT))
    except (ValueError, ValidationError):
        raise LinkRefused(LinkProblem.INVALID) from None
    if now.timestamp() >= claims.expires_at:
        raise LinkRefused(LinkProblem.EXPIRED)
    return claims


digest = signed_tokens.digest


def link_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{LINK_PATH}/{token}"
