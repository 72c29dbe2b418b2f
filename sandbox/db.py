"""The sandbox's tables (shared by every system) and the engine that holds them.

Portable SQLAlchemy only: SQLite by default, PostgreSQL or any other URL works too.
Every table is prefixed ``sandbox_`` so the sandbox can share a database with other tools.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Engine,
    Float,
    Index,
    Integer,
    String,
    create_engine,
    event,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import StaticPool


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}


class RecordRow(Base):
    """One business object of one system (a vendor, a portal account, a sent message...)."""

    __tablename__ = "sandbox_records"

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    external_ref: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[str] = mapped_column(String(40))

    __table_args__ = (
        Index("ix_sandbox_records_kind", "system", "kind", "status"),
        Index("ix_sandbox_records_external_ref", "system", "kind", "external_ref"),
        # List pages, newest first (billing's invoices: Stripe's cursor pagination).
        Index("ix_sandbox_records_created", "system", "kind", "created_at", "id"),
    )


class RecordKeyRow(Base):
    """A searchable field of a record (tax id, recipient, tag...), so lookups stay plain SQL."""

    __tablename__ = "sandbox_record_keys"

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(String(512))

    __table_args__ = (Index("ix_sandbox_record_keys_lookup", "system", "name", "value"),)


class EventRow(Base):
    """One append-only ledger entry; ``seq`` orders them."""

    __tablename__ = "sandbox_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[str] = mapped_column(String(40))
    system: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str | None] = mapped_column(String(64))
    record_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]]


class IdempotencyRow(Base):
    """The first answer given to a create carrying an ``Idempotency-Key``."""

    __tablename__ = "sandbox_idempotency_keys"

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]]
    record_kind: Mapped[str | None] = mapped_column(String(64))
    record_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(40))


class CredentialRow(Base):
    """The credentials a system currently accepts (set through the admin API)."""

    __tablename__ = "sandbox_credentials"

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    data: Mapped[dict[str, Any]]
    updated_at: Mapped[str] = mapped_column(String(40))


class SequenceRow(Base):
    """The last number handed out per system and kind, for readable sequential ids."""

    __tablename__ = "sandbox_sequences"

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)


class SettingRow(Base):
    """A behaviour setting changed through the admin API (token lifetime, rate limit...)."""

    __tablename__ = "sandbox_settings"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    data: Mapped[dict[str, Any]]
    updated_at: Mapped[str] = mapped_column(String(40))


class AccessTokenRow(Base):
    """An OAuth2 access token, kept as its SHA-256 only; times are unix seconds."""

    __tablename__ = "sandbox_access_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    system: Mapped[str] = mapped_column(String(32), index=True)
    client_id: Mapped[str] = mapped_column(String(255))
    issued_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class WebhookTargetRow(Base):
    """Where a system delivers its webhook events, and the secret it signs them with."""

    __tablename__ = "sandbox_webhook_targets"

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(1024))
    max_attempts: Mapped[int] = mapped_column(Integer)
    timeout_seconds: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[str] = mapped_column(String(40))


class WebhookEventRow(Base):
    """One emitted webhook event: the exact payload sent, and how its delivery stands."""

    __tablename__ = "sandbox_webhook_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    system: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    record_kind: Mapped[str | None] = mapped_column(String(64))
    record_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[str] = mapped_column(String(40))
    delivered_at: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (Index("ix_sandbox_webhook_events_type", "system", "type"),)


class WebhookDeliveryRow(Base):
    """One delivery attempt of a webhook event (retries and redeliveries included)."""

    __tablename__ = "sandbox_webhook_deliveries"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    system: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    redelivery: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[str] = mapped_column(String(40))


def make_engine(database_url: str) -> Engine:
    """An engine for ``database_url``; a SQLite file's folder is created if missing.

    SQL parameters are kept out of error messages: they may hold credentials.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, hide_parameters=True)
    database = url.database or ""
    if database in ("", ":memory:"):
        # One shared connection, or every pooled connection would see its own empty database.
        return create_engine(
            url,
            connect_args={"check_same_thread": False},
            poolclass=StaticPool,
            hide_parameters=True,
        )
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True
    )
    event.listen(engine, "connect", _write_ahead_log)
    return engine


def _write_ahead_log(connection: Any, _: Any) -> None:
    """A write-ahead log synced at checkpoints: each request's transaction costs an append, not
    several fsyncs, so the stand-in systems take less of a small machine's CPU."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_tables(engine: Engine) -> None:
    Base.metadata.create_all(engine)
