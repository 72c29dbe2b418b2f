"""The shared record store: create, find and change the records of any system.

Every change writes its ledger event in the same transaction, so the ledger is complete
without each system having to remember it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from sandbox.db import RecordKeyRow, RecordRow, SequenceRow
from sandbox.errors import not_found
from sandbox.ledger import append_event
from sandbox.store import utc_now


def next_id(session: Session, system: str, kind: str, prefix: str) -> str:
    """The next readable id of a kind, e.g. ``V-000001``."""
    sequence = session.scalars(
        select(SequenceRow)
        .where(SequenceRow.system == system, SequenceRow.kind == kind)
        .with_for_update()
    ).one_or_none()
    if sequence is None:
        sequence = SequenceRow(system=system, kind=kind, last_value=0)
        session.add(sequence)
    sequence.last_value += 1
    if prefix.endswith("_"):  # Stripe's id shape, e.g. ``cus_000001``
        return f"{prefix}{sequence.last_value:06d}"
    return f"{prefix}-{sequence.last_value:06d}"


def create_record(
    session: Session,
    *,
    system: str,
    kind: str,
    prefix: str,
    status: str,
    data: Mapping[str, Any],
    external_ref: str | None = None,
    keys: Mapping[str, str] | None = None,
    action: str = "created",
) -> RecordRow:
    """Store a new record, index its ``keys`` for ``find_records`` and log ``action``."""
    now = utc_now()
    row = RecordRow(
        system=system,
        id=next_id(session, system, kind, prefix),
        kind=kind,
        external_ref=external_ref,
        status=status,
        data=dict(data),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    for name, value in (keys or {}).items():
        session.add(RecordKeyRow(system=system, record_id=row.id, name=name, value=value))
    detail = (
        {"status": status}
        if external_ref is None
        else {"status": status, "external_ref": external_ref}
    )
    append_event(session, system=system, action=action, kind=kind, record_id=row.id, detail=detail)
    session.flush()
    return row


def get_record(session: Session, system: str, kind: str, record_id: str) -> RecordRow | None:
    row = session.get(RecordRow, (system, record_id))
    return row if row is not None and row.kind == kind else None


def require_record(
    session: Session, system: str, kind: str, record_id: str, label: str
) -> RecordRow:
    """The record, or a 404 ``NOT_FOUND`` saying which ``label`` was missing."""
    row = get_record(session, system, kind, record_id)
    if row is None:
        raise not_found(f"{system} {label} {record_id!r}")
    return row


def records_query(
    system: str,
    kind: str,
    *,
    status: str | None = None,
    external_ref: str | None = None,
    keys: Mapping[str, str] | None = None,
) -> Select[RecordRow]:
    """The query of records of a kind matching every given filter (a key through its row in
    the key table), for the caller to order and limit."""
    query = select(RecordRow).where(RecordRow.system == system, RecordRow.kind == kind)
    if status is not None:
        query = query.where(RecordRow.status == status)
    if external_ref is not None:
        query = query.where(RecordRow.external_ref == external_ref)
    for name, value in (keys or {}).items():
        query = query.where(
            exists().where(
                RecordKeyRow.system == RecordRow.system,
                RecordKeyRow.record_id == RecordRow.id,
                RecordKeyRow.name == name,
                RecordKeyRow.value == value,
            )
        )
    return query


def find_records(
    session: Session,
    system: str,
    kind: str,
    *,
    status: str | None = None,
    external_ref: str | None = None,
    keys: Mapping[str, str] | None = None,
) -> list[RecordRow]:
    """Records of a kind matching every given filter, oldest first."""
    query = records_query(system, kind, status=status, external_ref=external_ref, keys=keys)
    return list(session.scalars(query.order_by(RecordRow.created_at, RecordRow.id)))


def change_status(session: Session, row: RecordRow, status: str, action: str) -> RecordRow:
    """Move a record to ``status`` and log ``action``; already there means no change, no event."""
    if row.status == status:
        return row
    previous = row.status
    row.status = status
    row.updated_at = utc_now()
    append_event(
        session,
        system=row.system,
        action=action,
        kind=row.kind,
        record_id=row.id,
        detail={"from": previous, "to": status},
    )
    session.flush()
    return row


def set_key(session: Session, row: RecordRow, name: str, value: str | None) -> None:
    """Index (or, with None, stop indexing) a searchable field of an existing record."""
    key = session.get(RecordKeyRow, (row.system, row.id, name))
    if value is None:
        if key is not None:
            session.delete(key)
    elif key is None:
        session.add(RecordKeyRow(system=row.system, record_id=row.id, name=name, value=value))
    else:
        key.value = value


def update_record(
    session: Session,
    row: RecordRow,
    changes: Mapping[str, Any],
    *,
    action: str = "updated",
    detail: Mapping[str, Any] | None = None,
) -> list[str]:
    """Apply ``changes`` to the record's data and log ``action`` naming the fields changed.

    Fields already holding their new value are no change; nothing changed means no event.
    """
    changed = [name for name, value in changes.items() if row.data.get(name) != value]
    if not changed:
        return []
    # A new dict, not an in-place edit: the JSON column only notices reassignment.
    row.data = {**row.data, **{name: changes[name] for name in changed}}
    row.updated_at = utc_now()
    append_event(
        session,
        system=row.system,
        action=action,
        kind=row.kind,
        record_id=row.id,
        detail={"fields": changed, **(detail or {})},
    )
    session.flush()
    return changed


def stamp(row: RecordRow, field: str) -> None:
    """Note in data ``field`` when the record last changed (e.g. ``paid_at``); no event."""
    row.data = {**row.data, field: row.updated_at}
