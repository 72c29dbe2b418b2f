"""OAuth2 client credentials (the CRM's scheme): a token endpoint and expiring Bearer tokens.

``POST /{system}/oauth/token`` takes ``grant_type=client_credentials`` form-encoded, with
``client_id``/``client_secret`` in the form or in HTTP Basic, and answers
``{"access_token", "token_type": "bearer", "expires_in"}``. Tokens are stored as SHA-256
hashes with their expiry; an expired one is refused with ``TOKEN_EXPIRED``, and new client
credentials (``PUT|DELETE /_admin/credentials/{system}``) revoke every outstanding token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from starlette.datastructures import Headers

from sandbox.auth import INVALID, MISSING, Refusal, bearer_token, same_secret
from sandbox.db import AccessTokenRow
from sandbox.errors import ApiError
from sandbox.ledger import append_event
from sandbox.settings import load_setting

TOKEN_EXPIRED = Refusal("access token expired; request a new one", "TOKEN_EXPIRED")
TOKEN_REVOKED = Refusal("access token revoked by a change of client credentials")
_KEEP_EXPIRED = 86400.0


class ClientCredentials(BaseModel):
    """``{"client_id": ..., "client_secret": ...}``."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(min_length=1, max_length=255)
    client_secret: str = Field(min_length=1, max_length=1024)


class TokenLifetime(BaseModel):
    """The body of ``PUT /_admin/{system}/token-lifetime``: seconds a new token lives."""

    model_config = ConfigDict(extra="forbid")

    seconds: int = Field(default=3600, ge=1, le=30 * 86400)


def lifetime_setting(system: str) -> str:
    return f"{system}.token_lifetime"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class OAuthClientCredentials:
    """``Authorization: Bearer <access token>`` from the system's own token endpoint."""

    name: str = "oauth2"
    credentials_model: type[BaseModel] = ClientCredentials

    def challenge(self, system: str) -> dict[str, str]:
        return {"WWW-Authenticate": f'Bearer realm="{system}"'}

    def check(
        self, session: Session, system: str, headers: Headers, accepted: Mapping[str, Any]
    ) -> Refusal | None:
        token = bearer_token(headers)
        if token is None:
            return MISSING
        row = session.get(AccessTokenRow, _hash(token))
        if row is None or row.system != system:
            return INVALID
        if row.revoked:
            return TOKEN_REVOKED
        if row.expires_at <= time.time():
            return TOKEN_EXPIRED
        return None

    def credentials_changed(self, session: Session, system: str) -> None:
        outstanding = list(
            session.scalars(
                select(AccessTokenRow).where(
                    AccessTokenRow.system == system, AccessTokenRow.revoked.is_(False)
                )
            )
        )
        for row in outstanding:
            row.revoked = True
        if outstanding:
            append_event(
                session,
                system=system,
                action="tokens_revoked",
                detail={"count": len(outstanding)},
            )


class OAuthError(ApiError):
    """A token endpoint refusal; codes as in RFC 6749 (``invalid_client``...)."""


async def token_request(request: Request) -> dict[str, str]:
    """The form of a token request (first value of each field), or ``invalid_request``."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise OAuthError(
            400,
            "invalid_request",
            "send the token request form-encoded (Content-Type: application/x-www-form-urlencoded)",
        )
    try:
        fields = parse_qs((await request.body()).decode(), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise OAuthError(400, "invalid_request", "the form is not valid") from exc
    return {name: values[0] for name, values in fields.items()}


def client_of(headers: Headers, form: Mapping[str, str], system: str) -> tuple[str, str]:
    """The client id and secret, from HTTP Basic or from the form (not both)."""
    scheme, _, encoded = headers.get("authorization", "").partition(" ")
    in_form = "client_id" in form or "client_secret" in form
    if scheme.lower() == "basic":
        if in_form:
            raise OAuthError(
                400, "invalid_request", "send the client in HTTP Basic or in the form, not both"
            )
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise _invalid_client(system, "malformed HTTP Basic header") from exc
        client_id, separator, client_secret = decoded.partition(":")
        if not separator:
            raise _invalid_client(system, "malformed HTTP Basic header")
        return client_id, client_secret
    if not in_form:
        raise _invalid_client(system, "no client_id/client_secret in the form or HTTP Basic")
    return form.get("client_id", ""), form.get("client_secret", "")


def _invalid_client(system: str, reason: str) -> OAuthError:
    return OAuthError(
        401,
        "invalid_client",
        f"{system}: {reason}",
        {"WWW-Authenticate": f'Basic realm="{system}"'},
    )


def check_grant(form: Mapping[str, str]) -> None:
    grant_type = form.get("grant_type")
    if grant_type is None:
        raise OAuthError(400, "invalid_request", "grant_type is missing")
    if grant_type != "client_credentials":
        raise OAuthError(
            400, "unsupported_grant_type", "only grant_type=client_credentials is supported"
        )


def issue_token(
    session: Session,
    system: str,
    accepted: Mapping[str, Any] | None,
    client_id: str,
    client_secret: str,
) -> dict[str, Any]:
    """A new access token for a client the system accepts, or a 401 ``invalid_client``."""
    if accepted is None:
        raise _invalid_client(system, "no credentials configured for this system")
    id_ok = same_secret(client_id, str(accepted.get("client_id", "")))
    secret_ok = same_secret(client_secret, str(accepted.get("client_secret", "")))
    if not (id_ok & secret_ok):
        raise _invalid_client(system, "unknown client or wrong secret")
    lifetime = load_setting(session, lifetime_setting(system), TokenLifetime).seconds
    token = f"{system}_at_{secrets.token_urlsafe(32)}"
    now = time.time()
    # Forget tokens long expired; a recently expired one still answers TOKEN_EXPIRED.
    session.execute(
        delete(AccessTokenRow).where(
            AccessTokenRow.system == system, AccessTokenRow.expires_at < now - _KEEP_EXPIRED
        )
    )
    session.add(
        AccessTokenRow(
            token_hash=_hash(token),
            system=system,
            client_id=client_id,
            issued_at=now,
            expires_at=now + lifetime,
            revoked=False,
        )
    )
    append_event(
        session,
        system=system,
        action="token_issued",
        detail={"client_id": client_id, "expires_in": lifetime},
    )
    return {"access_token": token, "token_type": "bearer", "expires_in": lifetime}


def expire_tokens(session: Session, system: str) -> int:
    """Make every live token of ``system`` expire now; how many there were."""
    now = time.time()
    live = list(
        session.scalars(
            select(AccessTokenRow).where(
                AccessTokenRow.system == system,
                AccessTokenRow.revoked.is_(False),
                AccessTokenRow.expires_at > now,
            )
        )
    )
    for row in live:
        row.expires_at = now
    if live:
        append_event(session, system=system, action="tokens_expired", detail={"count": len(live)})
    return len(live)
