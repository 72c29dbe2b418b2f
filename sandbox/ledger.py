"""The ledger: every record of every system plus an append-only event log, for tests and demos.

``GET /_admin/ledger`` returns ``{"records": [...], "events": [...]}``.

Event actions (``kind``/``record_id`` name the record, when there is one):

- ``created``           a record was created (vendor, approved-supplier entry, portal account,
                        billing customer/invoice/payment, CRM account/contact/lead/deal)
- ``sent``              a mail message was accepted and "sent"; an e-signature envelope was sent
- ``updated``           a record changed without a dedicated action; detail ``fields`` names them
- ``deactivated``       an ERP vendor became ``inactive``
- ``removed``           an approved-supplier entry became ``removed``
- ``deleted``           a portal account was soft-deleted (status ``deleted``)
- ``finalized``         a billing invoice went ``draft`` → ``open``
- ``payment_applied``   a billing invoice took a payment (detail ``fields``, ``payment_id``)
- ``paid``              a billing invoice became ``paid``
- ``voided``            a billing invoice became ``void``, or an envelope ``voided``
- ``completed``         an envelope was signed (status ``completed``)
- ``stage_changed``     a CRM deal moved to another stage (detail ``from``, ``to``)
- ``deduplicated``      a lead was submitted again with a known email (detail ``fields``,
                        ``source``); nothing was created
- ``webhook_emitted``   a webhook event was stored for the record (detail ``event_id``, ``type``)
- ``webhook_sent``      one delivery attempt of an event, retries and redeliveries included
                        (detail ``event_id``, ``type``, ``attempt``, ``redelivery``, ``status``:
                        the HTTP status or null, ``error``: null when delivered)
- ``webhook_failed``    an event's automatic attempts ran out (detail ``event_id``, ``type``,
                        ``attempts``); it stays ``failed`` until redelivered
- ``token_issued``      an OAuth2 access token was issued (detail ``client_id``, ``expires_in``)
- ``tokens_expired``    ``POST /_admin/{system}/expire-tokens`` expired live tokens (``count``)
- ``tokens_revoked``    new or deleted client credentials revoked tokens (``count``)
- ``idempotent_replay`` a create was retried with the same ``Idempotency-Key`` and body;
                        the stored answer was returned and nothing was created
- ``rejected``          a system rule refused a request (409/422 with a system code such as
                        ``DUPLICATE_TAX_ID`` or ``IDEMPOTENCY_KEY_REUSED``); no record id
- ``unauthorized``      a request was answered 401; no record id, detail has the reason only

Injected faults and the enrichment rate limit write nothing here; ``GET /_admin/faults`` and
``GET /_admin/enrichment/rate-limit`` count them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sandbox.db import EventRow, RecordRow
from sandbox.store import utc_now


def append_event(
    session: Session,
    *,
    system: str,
    action: str,
    kind: str | None = None,
    record_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    session.add(
        EventRow(
            at=utc_now(),
            system=system,
            kind=kind,
            record_id=record_id,
            action=action,
            detail=dict(detail or {}),
        )
    )


def record_view(row: RecordRow) -> dict[str, Any]:
    return {
        "system": row.system,
        "kind": row.kind,
        "id": row.id,
        "external_ref": row.external_ref,
        "status": row.status,
        "data": row.data,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def event_view(row: EventRow) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "at": row.at,
        "system": row.system,
        "kind": row.kind,
        "record_id": row.record_id,
        "action": row.action,
        "detail": row.detail,
    }


def ledger(session: Session, system: str | None, after_seq: int | None) -> dict[str, Any]:
    """Records (oldest first) and events (by ``seq``), optionally of one system only."""
    records = select(RecordRow).order_by(RecordRow.created_at, RecordRow.system, RecordRow.id)
    events = select(EventRow).order_by(EventRow.seq)
    if system is not None:
        records = records.where(RecordRow.system == system)
        events = events.where(EventRow.system == system)
    if after_seq is not None:
        events = events.where(EventRow.seq > after_seq)
    return {
        "records": [record_view(row) for row in session.scalars(records)],
        "events": [event_view(row) for row in session.scalars(events)],
    }
