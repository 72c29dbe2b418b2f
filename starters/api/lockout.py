"""Guessed passwords: after `max_failures` wrong passwords for one approver id within `period`,
that id is refused for `period` (HTTP 429 with Retry-After), whatever password comes next.

Unknown ids are counted like known ones, so a refusal says nothing about which ids exist. The
count lives in the app database: every API process shares it and a restart keeps it. Service
clients are not counted: their 256-bit secrets cannot be guessed, and locking one would stop a
service. A credential verified before (the authenticator's short cache) is not re-checked.
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
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._max_failures = max_failures
        self._period = period
        self._clock = clock

    async def check(self, approver_id: str) -> None:
        """Raises the 429 while `approver_id` is locked."""
        locked_until = await asyncio.to_thread(self._locked_until, approver_id)
        now = self._clock()
        if locked_until is not None and now < locked_until:
            seconds = max(1, int((locked_until - now).total_seconds() + 0.999))
            raise ApiError(
                429,
                LOCKED,
                f"too many wrong passwords for this approver id: try again in {_wait(seconds)}",
                headers={"Retry-After": str(seconds)},
            )

    async def failed(self, approver_id: str) -> None:
        """One more wrong password; the one that reaches the limit starts the lock."""
        await asyncio.to_thread(self._count, approver_id)

    async def succeeded(self, approver_id: str) -> None:
        """The right password (while not locked): the count starts again."""
        await asyncio.to_thread(self._clear, approver_id)

    def _locked_until(self, approver_id: str) -> datetime | None:
        with Session(self._engine) as session:
            row = session.get(SignInFailures, approver_id)
            return as_utc(row.locked_until) if row and row.locked_until else None

    def _count(self, approver_id: str) -> None:
        for _ in range(2):  # a concurrent first failure inserts the row: count on it then
            try:
                with Session(self._engine) as session, session.begin():
                    self._count_in(session, approver_id)
                return
            except IntegrityError:
                continue

    def _count_in(self, session: Session, approver_id: str) -> None:
        now = self._clock()
        stale = now - self._period
        # Forget ids whose failures and lock are both over (an attacker's made-up ids too).
        session.execute(
            delete(SignInFailures).where(
                SignInFailures.first_failed_at < stale,
                SignInFailures.approver_id != approver_id,
                (SignInFailures.locked_until.is_(None)) | (SignInFailures.locked_until < now),
            )
        )
        query = select(SignInFailures).where(SignInFailures.approver_id == approver_id)
        row = session.scalars(query.with_for_update()).first()
        if row is None:
            row = SignInFailures(approver_id=approver_id, failures=0, first_failed_at=now)
            session.add(row)
        elif as_utc(row.first_failed_at) < stale:
            row.failures, row.first_failed_at = 0, now
        row.failures += 1
        if row.failures >= self._max_failures:
            row.failures, row.first_failed_at = 0, now
            row.locked_until = now + self._period

    def _clear(self, approver_id: str) -> None:
        with Session(self._engine) as session, session.begin():
            session.execute(delete(SignInFailures).where(SignInFailures.approver_id == approver_id))
