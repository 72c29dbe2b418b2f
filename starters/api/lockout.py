"""Guessed passwords: after `max_failures` wrong passwords for one approver id within `period`,
that id is refused for `period` (HTTP 429 with Retry-After), whatever password comes next.

Unknown ids are counted like known ones, so a refusal says nothing about which ids exist. Beside
each id, each client address is counted the same way with its own limit, so that trying many
ids from one place is stopped too. An attempt is counted before its password is checked (and
given back when it was right), so a burst of parallel guesses cannot pass before any is counted.
The counts live in the app database: every API process shares them and a restart keeps them.
Service clients are not counted: their 256-bit secrets cannot be guessed, and locking one would
stop a service. A credential verified before (the authenticator's short cache) is not re-checked.
"""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from runtime.db import SignInFailures, as_utc
from starters.api.errors import ApiError

LOCKED = "SIGN_IN_LOCKED"


def _wait(seconds: int) -> str:
    return f"{seconds} s" if seconds < 60 else f"{-(-seconds // 60)} min"


class Lockout:
    def __init__(
        self,
        engine: Engine,
        *,
        max_failures: int,
        period: timedelta,
        max_failures_per_address: int | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._max_failures = max_failures
        self._max_per_address = max_failures_per_address
        self._period = period
        self._clock = clock

    async def reserve(self, approver_id: str, address: str | None) -> None:
        """Before a password is checked: raises the 429 while the id (or the client address)
        is locked, else counts this attempt as a failure until `succeeded` says otherwise, so
        that a burst of parallel guesses is counted before any of them is checked."""
        keys = [(approver_id, self._max_failures, "this approver id")]
        if address and self._max_per_address:
            keys.append((_address_key(address), self._max_per_address, "this client address"))
        for key, limit, what in keys:
            locked_until = await asyncio.to_thread(self._count, key, limit)
            now = self._clock()
            if locked_until is not None and now < locked_until:
                seconds = max(1, int((locked_until - now).total_seconds() + 0.999))
                raise ApiError(
                    429,
                    LOCKED,
                    f"too many wrong passwords for {what}: try again in {_wait(seconds)}",
                    headers={"Retry-After": str(seconds)},
                )

    async def succeeded(self, approver_id: str, address: str | None) -> None:
        """The right password: the id's count starts again; the address gets its attempt back."""
        await asyncio.to_thread(
            self._clear, approver_id, _address_key(address) if address else None
        )

    def _count(self, key: str, limit: int) -> datetime | None:
        """One more attempt on `key`; returns until when it is locked (None: it is not)."""
        for _ in range(2):  # a concurrent first attempt inserts the row: count on it then
            try:
                with Session(self._engine) as session, session.begin():
                    return self._count_in(session, key, limit)
            except IntegrityError:
                continue
        return None

    def _count_in(self, session: Session, key: str, limit: int) -> datetime | None:
        now = self._clock()
        stale = now - self._period
        # Forget keys whose failures and lock are both over (an attacker's made-up ids too).
        session.execute(
            delete(SignInFailures).where(
                SignInFailures.first_failed_at < stale,
                SignInFailures.approver_id != key,
                (SignInFailures.locked_until.is_(None)) | (SignInFailures.locked_until < now),
            )
        )
        query = select(SignInFailures).where(SignInFailures.approver_id == key)
        row = session.scalars(query.with_for_update()).first()
        if row is None:
            row = SignInFailures(approver_id=key, failures=0, first_failed_at=now)
            session.add(row)
        elif row.locked_until is not None and now < as_utc(row.locked_until):
            return as_utc(row.locked_until)  # locked: this attempt is refused, not counted
        elif as_utc(row.first_failed_at) < stale:
            row.failures, row.first_failed_at, row.locked_until = 0, now, None
        # The attempt that would go past the limit is refused: `limit` are checked, no more.
        if row.failures >= limit:
            row.failures, row.first_failed_at = 0, now
            row.locked_until = now + self._period
            return as_utc(row.locked_until)
        row.failures += 1
        return None

    def _clear(self, approver_id: str, address_key: str | None) -> None:
        with Session(self._engine) as session, session.begin():
            session.execute(delete(SignInFailures).where(SignInFailures.approver_id == approver_id))
            if address_key is None:
                return
            query = select(SignInFailures).where(SignInFailures.approver_id == address_key)
            row = session.scalars(query.with_for_update()).first()
            if row is not None and row.locked_until is None and row.failures > 0:
                row.failures -= 1


def _address_key(address: str) -> str:
    """The row of a client address: beside the approver ids (which cannot contain ':')."""
    return f"addr:{address}"[:64]
