"""How each system checks callers: HTTP Basic, an API key header, or a Bearer key.

(OAuth2 client credentials, the CRM's scheme, is in ``oauth.py``.) Accepted credentials
live in the database (``PUT /_admin/credentials/{system}``); a system with none set refuses
every call. Secrets are compared with ``hmac.compare_digest`` and never logged or echoed.
Also here: ``require_admin``, the guard of the admin API.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.datastructures import Headers

from sandbox.db import CredentialRow
from sandbox.errors import ApiError
from sandbox.state import state_of
from sandbox.store import utc_now


@dataclass(frozen=True)
class Refusal:
    """Why a caller was refused: a reason for the message and ledger, and the error code."""

    reason: str
    code: str = "UNAUTHORIZED"


MISSING = Refusal("missing credentials")
INVALID = Refusal("invalid credentials")
NOT_CONFIGURED = Refusal("no credentials configured for this system")


class BasicCredentials(BaseModel):
    """A service account: ``{"username": ..., "password": ...}``."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=1024)


class ApiKeyCredentials(BaseModel):
    """Accepted API keys; more than one allows a rotation without downtime."""

    model_config = ConfigDict(extra="forbid")

    api_keys: list[Annotated[str, Field(min_length=1, max_length=1024)]] = Field(min_length=1)


class AuthScheme(Protocol):
    """One way of presenting credentials; ``check`` answers None when the caller may pass."""

    @property
    def name(self) -> str: ...

    @property
    def credentials_model(self) -> type[BaseModel]: ...

    def challenge(self, system: str) -> dict[str, str]: ...

    def check(
        self, session: Session, system: str, headers: Headers, accepted: Mapping[str, Any]
    ) -> Refusal | None: ...

    def credentials_changed(self, session: Session, system: str) -> None:
        """Called when the admin API replaces or deletes the system's credentials."""


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _any_key_matches(given: str, accepted: Mapping[str, Any]) -> bool:
    matched = False
    for key in accepted.get("api_keys", []):
        # No early exit: every key is compared, whichever matches.
        matched = same_secret(given, str(key)) or matched
    return matched


@dataclass(frozen=True)
class BasicAuth:
    """``Authorization: Basic base64(username:password)``."""

    name: str = "basic"
    credentials_model: type[BaseModel] = BasicCredentials

    def challenge(self, system: str) -> dict[str, str]:
        return {"WWW-Authenticate": f'Basic realm="{system}"'}

    def credentials_changed(self, session: Session, system: str) -> None:
        return None

    def check(
        self, session: Session, system: str, headers: Headers, accepted: Mapping[str, Any]
    ) -> Refusal | None:
        scheme, _, encoded = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return MISSING
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return INVALID
        username, separator, password = decoded.partition(":")
        if not separator:
            return INVALID
        user_ok = same_secret(username, str(accepted.get("username", "")))
        password_ok = same_secret(password, str(accepted.get("password", "")))
        return None if user_ok & password_ok else INVALID


@dataclass(frozen=True)
class ApiKeyHeader:
    """An API key in a header of its own, e.g. ``X-Api-Key: <key>``."""

    header: str = "X-Api-Key"
    name: str = "api_key"
    credentials_model: type[BaseModel] = ApiKeyCredentials

    def challenge(self, system: str) -> dict[str, str]:
        return {}

    def credentials_changed(self, session: Session, system: str) -> None:
        return None

    def check(
        self, session: Session, system: str, headers: Headers, accepted: Mapping[str, Any]
    ) -> Refusal | None:
        given = headers.get(self.header, "")
        if not given:
            return MISSING
        return None if _any_key_matches(given, accepted) else INVALID


@dataclass(frozen=True)
class BearerKey:
    """An API key sent as ``Authorization: Bearer <key>``."""

    name: str = "bearer"
    credentials_model: type[BaseModel] = ApiKeyCredentials

    def challenge(self, system: str) -> dict[str, str]:
        return {"WWW-Authenticate": f'Bearer realm="{system}"'}

    def credentials_changed(self, session: Session, system: str) -> None:
        return None

    def check(
        self, session: Session, system: str, headers: Headers, accepted: Mapping[str, Any]
    ) -> Refusal | None:
        given = bearer_token(headers)
        if given is None:
            return MISSING
        return None if _any_key_matches(given, accepted) else INVALID


def bearer_token(headers: Headers) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    scheme, _, given = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return None
    return given.strip()


def require_admin(request: Request) -> None:
    """Refuse an admin call without the app's admin token (when it has one)."""
    expected = state_of(request).admin_token
    if expected is None:
        return
    given = request.headers.get("x-admin-token", "")
    if not same_secret(given, expected):
        reason = "missing" if not given else "invalid"
        raise ApiError(401, "UNAUTHORIZED", f"admin API: {reason} X-Admin-Token header")


def load_credentials(session: Session, system: str) -> dict[str, Any] | None:
    row = session.get(CredentialRow, system)
    return None if row is None else row.data


def save_credentials(session: Session, system: str, credentials: BaseModel) -> None:
    """Replace what ``system`` accepts; the previous credentials stop working at once."""
    row = session.get(CredentialRow, system)
    data = credentials.model_dump()
    if row is None:
        session.add(CredentialRow(system=system, data=data, updated_at=utc_now()))
    else:
        row.data = data
        row.updated_at = utc_now()


def delete_credentials(session: Session, system: str) -> None:
    """Forget what ``system`` accepts: every call is refused until new credentials are set."""
    row = session.get(CredentialRow, system)
    if row is not None:
        session.delete(row)
