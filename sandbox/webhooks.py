"""Webhook events: stored with the change that caused them, signed like Stripe's, then sent.

``emit`` stores an event in the same transaction as the change, so an event exists exactly
when its change does; ``delivery.py`` sends it once the transaction has committed. The body
is the JSON object ``{"id", "type", "created", "system", "data"}``; the header
``Webhook-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`` signs it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from sandbox.db import RecordRow, WebhookDeliveryRow, WebhookEventRow, WebhookTargetRow
from sandbox.ledger import append_event
from sandbox.store import utc_now

SIGNATURE_HEADER = "Webhook-Signature"
# Billing emulates Stripe, whose header this is (same scheme).
SIGNATURE_HEADERS = {"billing": "Stripe-Signature"}
# ``session.info`` key: ids of the events a transaction emitted, for delivery after commit.
EMITTED = "webhook_events"

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
NO_TARGET = "no_target"


class WebhookTarget(BaseModel):
    """The body of ``PUT /_admin/webhooks/{system}``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://[^\s/?#]+[^\s]*$", max_length=2000)
    secret: str = Field(min_length=1, max_length=1024)
    max_attempts: int = Field(default=8, ge=1, le=20)
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)


def save_target(session: Session, system: str, target: WebhookTarget) -> WebhookTargetRow:
    row = session.get(WebhookTargetRow, system)
    if row is None:
        row = WebhookTargetRow(system=system)
        session.add(row)
    row.url = target.url
    row.secret = target.secret
    row.max_attempts = target.max_attempts
    row.timeout_seconds = target.timeout_seconds
    row.updated_at = utc_now()
    session.flush()
    return row


def delete_target(session: Session, system: str) -> bool:
    row = session.get(WebhookTargetRow, system)
    if row is not None:
        session.delete(row)
    return row is not None


def target_view(row: WebhookTargetRow) -> dict[str, Any]:
    """A target without its secret."""
    return {
        "system": row.system,
        "url": row.url,
        "max_attempts": row.max_attempts,
        "timeout_seconds": row.timeout_seconds,
        "updated_at": row.updated_at,
    }


def list_targets(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(select(WebhookTargetRow).order_by(WebhookTargetRow.system))
    return [target_view(row) for row in rows]


def emit(
    session: Session,
    *,
    system: str,
    event_type: str,
    data: dict[str, Any],
    record: RecordRow,
    envelope: dict[str, Any] | None = None,
) -> str:
    """Store an event about ``record`` and queue it for delivery after commit; its id.
    ``envelope`` adds fields beside ``data`` (billing's Stripe events: ``object``, ...)."""
    event_id = f"evt_{secrets.token_hex(12)}"
    payload = {
        "id": event_id,
        **(envelope or {}),
        "type": event_type,
        "created": int(time.time()),
        "system": system,
        "data": data,
    }
    has_target = session.get(WebhookTargetRow, system) is not None
    session.add(
        WebhookEventRow(
            id=event_id,
            system=system,
            type=event_type,
            payload=payload,
            record_kind=record.kind,
            record_id=record.id,
            status=PENDING if has_target else NO_TARGET,
            attempts=0,
            created_at=utc_now(),
            delivered_at=None,
        )
    )
    append_event(
        session,
        system=system,
        action="webhook_emitted",
        kind=record.kind,
        record_id=record.id,
        detail={"event_id": event_id, "type": event_type},
    )
    if has_target:
        session.info.setdefault(EMITTED, []).append(event_id)
    return event_id


def body_of(payload: dict[str, Any]) -> bytes:
    """The raw body sent for an event: the same bytes on every attempt."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Webhook-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def event_view(row: WebhookEventRow) -> dict[str, Any]:
    """The event as sent, plus how its delivery stands."""
    return {
        **row.payload,
        "record_id": row.record_id,
        "delivery_status": row.status,
        "attempts": row.attempts,
        "delivered_at": row.delivered_at,
    }


def delivery_view(row: WebhookDeliveryRow) -> dict[str, Any]:
    return {
        "event_id": row.event_id,
        "system": row.system,
        "type": row.type,
        "attempt": row.attempt,
        "redelivery": row.redelivery,
        "status": row.status,
        "error": row.error,
        "at": row.at,
    }


def get_event(session: Session, event_id: str) -> WebhookEventRow | None:
    query = select(WebhookEventRow).where(WebhookEventRow.id == event_id)
    return session.scalars(query).one_or_none()


def find_events(
    session: Session, system: str | None = None, event_type: str | None = None
) -> list[WebhookEventRow]:
    query = select(WebhookEventRow).order_by(WebhookEventRow.seq)
    if system is not None:
        query = query.where(WebhookEventRow.system == system)
    if event_type is not None:
        query = query.where(WebhookEventRow.type == event_type)
    return list(session.scalars(query))


def find_deliveries(
    session: Session, system: str | None = None, event_id: str | None = None
) -> list[WebhookDeliveryRow]:
    query = select(WebhookDeliveryRow).order_by(WebhookDeliveryRow.seq)
    if system is not None:
        query = query.where(WebhookDeliveryRow.system == system)
    if event_id is not None:
        query = query.where(WebhookDeliveryRow.event_id == event_id)
    return list(session.scalars(query))
