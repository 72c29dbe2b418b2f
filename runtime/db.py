"""The application database: its tables (audit of external calls, webhook events, inbox sessions,
used approval links) and one engine per process. The schema is made by migrations
(`runtime/migrations/`, run by `runtime.schema`), never by the processes that use it."""

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every table the application owns."""


class AuditRow(Base):
    """One HTTP attempt to an external system (retries included); bodies only as summaries."""

    __tablename__ = "http_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    workflow_id: Mapped[str | None] = mapped_column(String(200), index=True)
    run_id: Mapped[str | None] = mapped_column(String(64))
    activity_id: Mapped[str | None] = mapped_column(String(200))
    activity_type: Mapped[str | None] = mapped_column(String(200))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    system: Mapped[str] = mapped_column(String(32), index=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    status: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    error_code: Mapped[str | None] = mapped_column(String(100))
    request_summary: Mapped[str | None] = mapped_column(Text)
    response_summary: Mapped[str | None] = mapped_column(Text)


class WebhookEvent(Base):
    """Every webhook event received: deduplication by the provider's event id, and dead letters."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("system", "event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), index=True)
    workflow_id: Mapped[str | None] = mapped_column(String(200))
    signal: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(500))
    payload: Mapped[str] = mapped_column(Text)
    deliveries: Mapped[int] = mapped_column(Integer, default=1)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InboxSession(Base):
    """A signed-in approver of the approval inbox; the cookie holds the id, this row its hash."""

    __tablename__ = "inbox_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    approver_id: Mapped[str] = mapped_column(String(64))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class SignInFailures(Base):
    """Wrong passwords for one approver id, and until when it is refused (starters/api/lockout)."""

    __tablename__ = "sign_in_failures"

    approver_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    first_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UsedApprovalLink(Base):
    """An approve/reject link that has been used (its hash): a link works once."""

    __tablename__ = "used_approval_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(255))
    approval_id: Mapped[str] = mapped_column(String(64))
    approver_id: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(500))


class UsedCodecTicket(Base):
    """A one-time codec sign-in link that has been used (its hash): a ticket works once."""

    __tablename__ = "used_codec_tickets"

    ticket_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CircuitRow(Base):
    """The circuit breaker of one external system (runtime/circuit.py); times in unix seconds.
    No row: closed, never failed."""

    __tablename__ = "circuit_breakers"

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[float] = mapped_column(Float)
    open_until: Mapped[float | None] = mapped_column(Float)
    probe_until: Mapped[float | None] = mapped_column(Float)
    # Opened by hand for a planned outage: the operator and the reason; closed by hand only.
    manual_reason: Mapped[str | None] = mapped_column(String(500))
    changed_at: Mapped[float | None] = mapped_column(Float)


def as_utc(moment: datetime) -> datetime:
    """A stored moment as an aware UTC datetime: SQLite hands back naive ones, and every row is
    written in UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# How long a SQLite connection waits for another's lock before it says "database is locked".
SQLITE_LOCK_WAIT_S = 30.0


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_LOCK_WAIT_S})
        event.listen(engine, "connect", _write_ahead_log)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _write_ahead_log(connection: Any, _: Any) -> None:
    """SQLite with a write-ahead log, synced at checkpoints: an audit row per HTTP attempt
    costs one append instead of several fsyncs (docs/performance.md); a crash of the process
    loses nothing committed.

    A new file is turned to WAL by the first connection that writes its header; another doing
    the same at that moment gets "database is locked" at once, without SQLite's own wait (it
    already reads the file), so the worker, the API and `deploy migrate` starting together on an
    empty database wait for each other here, as long as for any other lock."""
    cursor = connection.cursor()
    deadline = time.monotonic() + SQLITE_LOCK_WAIT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
