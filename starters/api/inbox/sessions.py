"""Inbox sign-ins: server-side sessions and their CSRF tokens.

The cookie holds a random session id; the database keeps only its SHA-256, the approver, a
per-session CSRF token and the expiry. Every form of a signed-in page carries the CSRF token and
every POST checks it. The sign-in form, before any session exists, is protected the same way
with a short-lived random cookie it must echo (double submit).
"""

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import Request, Response
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from runtime.db import InboxSession, as_utc

SESSION_COOKIE = "backoffice_inbox"
SIGN_IN_COOKIE = "backoffice_inbox_sign_in"
COOKIE_PATH = "/inbox"
SIGN_IN_FORM_LIFETIME = timedelta(minutes=30)


def _now() -> datetime:
    return datetime.now(UTC)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


def tokens_match(expected: str | None, presented: str | None) -> bool:
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


@dataclass(frozen=True)
class SignedIn:
    """One live session: who, the CSRF token its forms carry, until when."""

    approver_id: str
    csrf_token: str
    expires_at: datetime


class SessionStore:
    def __init__(
        self, engine: Engine, lifetime: timedelta, *, clock: Callable[[], datetime] = _now
    ) -> None:
        self._engine = engine
        self._lifetime = lifetime
        self._clock = clock

    async def open(self, approver_id: str) -> tuple[str, SignedIn]:
        """A new session (and its cookie value); expired sessions are cleared on the way."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        signed_in = SignedIn(approver_id, secrets.token_urlsafe(32), now + self._lifetime)
        await asyncio.to_thread(self._insert, _hash(session_id), signed_in, now)
        return session_id, signed_in

    async def find(self, session_id: str | None) -> SignedIn | None:
        if not session_id or len(session_id) > 200:
            return None
        row = await asyncio.to_thread(self._load, _hash(session_id))
        if row is None or as_utc(row.expires_at) <= self._clock():
            return None
        return SignedIn(row.approver_id, row.csrf_token, as_utc(row.expires_at))

    async def close(self, session_id: str | None) -> None:
        if session_id:
            await asyncio.to_thread(self._delete, _hash(session_id))

    def _insert(self, id_hash: str, signed_in: SignedIn, now: datetime) -> None:
        with Session(self._engine) as session, session.begin():
            session.execute(delete(InboxSession).where(InboxSession.expires_at < now))
            session.add(
                InboxSession(
                    id_hash=id_hash,
                    approver_id=signed_in.approver_id,
                    csrf_token=signed_in.csrf_token,
                    created_at=now,
                    expires_at=signed_in.expires_at,
                )
            )

    def _load(self, id_hash: str) -> InboxSession | None:
        with Session(self._engine) as session:
            return session.get(InboxSession, id_hash)

    def _delete(self, id_hash: str) -> None:
        with Session(self._engine) as session, session.begin():
            session.execute(delete(InboxSession).where(InboxSession.id_hash == id_hash))


def is_secure(request: Request, api_url: str) -> bool:
    """Cookies are `Secure` when the inbox is served over https (directly or, by the
    configured URL, behind a proxy)."""
    return request.url.scheme == "https" or api_url.startswith("https://")


def set_cookie(
    response: Response, request: Request, api_url: str, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=is_secure(request, api_url),
    )


def clear_cookie(response: Response, request: Request, api_url: str, name: str) -> None:
    response.delete_cookie(
        name, path=COOKIE_PATH, httponly=True, samesite="lax", secure=is_secure(request, api_url)
    )
