"""A circuit breaker per external system, shared by every worker through the app database.

closed → open after `failures` unwell answers (5xx, 429, timeouts, connection errors; never a
4xx, which says the system is well and the request was not) within `window`; open for
`cool_down`; then half-open: one probe at a time across all workers, the one whose UPDATE claims
the row; the probe's success closes the breaker, its failure opens it for another cool-down. An
operator opens a breaker by hand for a planned outage; it stays open until closed by hand.

The state lives in the app database, not in Temporal: every worker, the API and the CLI already
share that database, a row survives restarts, and Temporal's task-queue controls can pace the
calls but cannot tell that a system answers 503. The hot path is one primary-key read per call;
a closed breaker is written only when a call fails.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Connection, Engine, case, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from runtime.db import CircuitRow

log = logging.getLogger(__name__)


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


# The metric's value of each state (backoffice_circuit_state{system}).
STATE_VALUE = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}


class CircuitPolicy(BaseModel):
    """When a system's breaker opens and for how long (settings `circuit_breaker`, and per
    system `circuit_breakers`)."""

    failures: int = Field(default=5, ge=1)
    window: timedelta = Field(default=timedelta(seconds=60), gt=timedelta(0))
    cool_down: timedelta = Field(default=timedelta(seconds=60), gt=timedelta(0))
    # How long a probe may take before another worker may probe instead (its worker died).
    probe_timeout: timedelta = Field(default=timedelta(seconds=30), gt=timedelta(0))


class CircuitOpen(Exception):
    """The breaker refuses the call; `retry_in` is when it may be tried (or probed) again."""

    def __init__(self, system: str, state: CircuitState, retry_in: timedelta, reason: str):
        self.system = system
        self.state = state
        self.retry_in = retry_in
        super().__init__(
            f"{system} is not called: its circuit breaker is {state.value} ({reason}); "
            f"next try in {max(1, round(retry_in.total_seconds()))} s"
        )


@dataclass(frozen=True)
class Admission:
    """A call the breaker let through: a probe (half-open) or an ordinary call."""

    probe: bool


@dataclass(frozen=True)
class CircuitView:
    """A breaker as `backoffice systems` and `GET /v1/systems` show it."""

    system: str
    state: CircuitState
    failures: int
    probe_at: float | None  # when an open breaker lets a probe through (unix time)
    opened_by_hand: str | None  # the operator's reason, when opened by hand
    changed_at: float | None


def view(system: str, row: CircuitRow | None) -> CircuitView:
    if row is None:
        return CircuitView(system, CircuitState.CLOSED, 0, None, None, None)
    state = CircuitState(row.state)
    return CircuitView(
        system=system,
        state=state,
        failures=row.failures if state is CircuitState.CLOSED else 0,
        probe_at=row.open_until if state is CircuitState.OPEN and not row.manual_reason else None,
        opened_by_hand=row.manual_reason,
        changed_at=row.changed_at,
    )


def read_all(engine: Engine) -> dict[str, CircuitRow]:
    with Session(engine, expire_on_commit=False) as session:
        return {row.system: row for row in session.scalars(select(CircuitRow))}


class Circuit:
    """The breaker of one system, as a worker's calls to it use it."""

    def __init__(self, engine: Engine, system: str, policy: CircuitPolicy) -> None:
        self._engine = engine
        self.system = system
        self.policy = policy
        # The hot path's one read, in Core (a quarter of the ORM's `Session.get` in CPU).
        self._read = select(
            CircuitRow.state,
            CircuitRow.manual_reason,
            CircuitRow.open_until,
            CircuitRow.probe_until,
        ).where(CircuitRow.system == system)

    async def admit(self) -> Admission:
        """Let the call through, or raise `CircuitOpen`: one indexed read unless a probe is due."""
        return await asyncio.to_thread(self._admit)

    async def succeeded(self, admission: Admission) -> None:
        if admission.probe:
            await asyncio.to_thread(self._close_after_probe)

    async def failed(self, admission: Admission) -> None:
        """An unwell answer (5xx, 429, timeout, connection error)."""
        await asyncio.to_thread(self._reopen if admission.probe else self._count_failure)

    def _admit(self) -> Admission:
        now = time.time()
        with self._engine.connect() as conn:
            row = conn.execute(self._read).first()
        if row is None or row.state == CircuitState.CLOSED:
            return Admission(probe=False)
        if row.manual_reason:
            raise CircuitOpen(
                self.system, CircuitState.OPEN, self.policy.cool_down, "opened by hand"
            )
        if row.state == CircuitState.OPEN and row.open_until is not None and now < row.open_until:
            raise CircuitOpen(
                self.system,
                CircuitState.OPEN,
                timedelta(seconds=row.open_until - now),
                f"{self.policy.failures} failures within {_seconds(self.policy.window)}",
            )
        if (
            row.state == CircuitState.HALF_OPEN
            and row.probe_until is not None
            and now < row.probe_until
        ):
            raise CircuitOpen(
                self.system,
                CircuitState.HALF_OPEN,
                timedelta(seconds=row.probe_until - now),
                "another call is probing it",
            )
        if self._claim_probe(row.state, now):
            log.warning("circuit %s: half-open, probing", self.system)
            return Admission(probe=True)
        raise CircuitOpen(
            self.system, CircuitState.HALF_OPEN, self.policy.probe_timeout, "another call probes it"
        )

    def _claim_probe(self, seen: str, now: float) -> bool:
        """Turn a due breaker half-open for this call only: the UPDATE only one process wins."""
        due = (
            CircuitRow.open_until <= now
            if seen == CircuitState.OPEN
            else CircuitRow.probe_until <= now
        )
        with self._engine.begin() as conn:
            claimed = conn.execute(
                update(CircuitRow)
                .where(
                    CircuitRow.system == self.system,
                    CircuitRow.state == seen,
                    CircuitRow.manual_reason.is_(None),
                    due,
                )
                .values(
                    state=CircuitState.HALF_OPEN,
                    probe_until=now + self.policy.probe_timeout.total_seconds(),
                    changed_at=now,
                )
            )
        return claimed.rowcount == 1

    def _close_after_probe(self) -> None:
        now = time.time()
        closed = self._end_probe(
            state=CircuitState.CLOSED, failures=0, window_started_at=now, open_until=None
        )
        if closed:
            log.warning("circuit %s: closed, the probe succeeded", self.system)

    def _reopen(self) -> None:
        opened = self._end_probe(
            state=CircuitState.OPEN, open_until=time.time() + self.policy.cool_down.total_seconds()
        )
        if opened:
            log.warning(
                "circuit %s: open again, the probe failed; next probe in %s",
                self.system,
                _seconds(self.policy.cool_down),
            )

    def _end_probe(self, **values: object) -> bool:
        """Move a half-open breaker (not one opened by hand) on; False if it had moved already."""
        with self._engine.begin() as conn:
            ended = conn.execute(
                update(CircuitRow)
                .where(
                    CircuitRow.system == self.system,
                    CircuitRow.state == CircuitState.HALF_OPEN,
                    CircuitRow.manual_reason.is_(None),
                )
                .values(**values, probe_until=None, changed_at=time.time())
            )
        return ended.rowcount == 1

    def _count_failure(self) -> None:
        """One more failure in the window (a new window once it has passed); the one that
        reaches the threshold opens the breaker. Plain UPDATEs, no read-then-write: workers
        count into one row at once."""
        now = time.time()
        cutoff = now - self.policy.window.total_seconds()
        fresh: ColumnElement[bool] = CircuitRow.window_started_at < cutoff
        with self._engine.begin() as conn:
            counted = conn.execute(
                update(CircuitRow)
                .where(CircuitRow.system == self.system, CircuitRow.state == CircuitState.CLOSED)
                .values(
                    failures=case((fresh, 1), else_=CircuitRow.failures + 1),
                    window_started_at=case((fresh, now), else_=CircuitRow.window_started_at),
                )
            )
            if counted.rowcount == 0 and not self._insert_first_failure(conn, now):
                return
            opened = conn.execute(
                update(CircuitRow)
                .where(
                    CircuitRow.system == self.system,
                    CircuitRow.state == CircuitState.CLOSED,
                    CircuitRow.failures >= self.policy.failures,
                )
                .values(
                    state=CircuitState.OPEN,
                    open_until=now + self.policy.cool_down.total_seconds(),
                    changed_at=now,
                )
            )
        if opened.rowcount == 1:
            log.warning(
                "circuit %s: open after %d failures within %s; next probe in %s",
                self.system,
                self.policy.failures,
                _seconds(self.policy.window),
                _seconds(self.policy.cool_down),
            )

    def _insert_first_failure(self, conn: Connection, now: float) -> bool:
        """The system's first failure ever: its row. False when the row exists (it is open, or
        another worker inserted it first: that worker counted; this failure is one of a burst
        the breaker already knows about)."""
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(CircuitRow).values(
                        system=self.system,
                        state=CircuitState.CLOSED,
                        failures=1,
                        window_started_at=now,
                        changed_at=now,
                    )
                )
        except IntegrityError:
            return False
        return True


def open_by_hand(engine: Engine, system: str, reason: str) -> None:
    """Open `system`'s breaker until it is closed by hand (a planned outage)."""
    _set_by_hand(engine, system, state=CircuitState.OPEN, manual_reason=reason)
    log.warning("circuit %s: opened by hand (%s)", system, reason)


def close_by_hand(engine: Engine, system: str) -> None:
    _set_by_hand(engine, system, state=CircuitState.CLOSED, manual_reason=None)
    log.warning("circuit %s: closed by hand", system)


def _set_by_hand(
    engine: Engine, system: str, state: CircuitState, manual_reason: str | None
) -> None:
    now = time.time()
    values = {
        "state": state,
        "failures": 0,
        "window_started_at": now,
        "open_until": None,
        "probe_until": None,
        "manual_reason": manual_reason,
        "changed_at": now,
    }
    with engine.begin() as conn:
        changed = conn.execute(update(CircuitRow).where(CircuitRow.system == system).values(values))
        if changed.rowcount == 0:
            conn.execute(insert(CircuitRow).values(system=system, **values))


def _seconds(span: timedelta) -> str:
    return f"{span.total_seconds():g} s"
