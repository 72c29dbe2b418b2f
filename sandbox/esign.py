"""E-signature stand-in (``/esign``, ``X-Api-Key``): envelopes sent to one signer each.

An envelope is ``sent`` on creation, then ``completed`` when the signer signs (through the
admin API: ``POST /_admin/esign/envelopes/{id}/sign``) or ``voided`` by the sender. Signing
emits the webhook event ``envelope.completed``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, StringConstraints
from sqlalchemy.orm import Session

from sandbox.auth import ApiKeyHeader
from sandbox.db import RecordRow
from sandbox.errors import ApiError
from sandbox.fields import Email, Name
from sandbox.idempotency import Reply
from sandbox.records import (
    change_status,
    create_record,
    find_records,
    require_record,
    stamp,
)
from sandbox.system import System, SystemCall
from sandbox.webhooks import emit

SYSTEM = System("esign", ApiKeyHeader("X-Api-Key"), webhook_events=("envelope.completed",))
router = SYSTEM.router
Call = Annotated[SystemCall, Depends(SYSTEM.call)]

ENVELOPE = "envelope"
SIGNING_URL = "https://esign.sandbox.test/sign/{id}"


class NewEnvelope(BaseModel):
    external_ref: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    document_name: Name
    document_text: Annotated[str, StringConstraints(min_length=1, max_length=200_000)]
    signer_name: Name
    signer_email: Email


def envelope_view(row: RecordRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "external_ref": row.external_ref,
        "status": row.status,
        **{
            name: row.data[name]
            for name in ("document_name", "document_text", "signer_name", "signer_email")
        },
        "signing_url": SIGNING_URL.format(id=row.id),
        "created_at": row.created_at,
        "completed_at": row.data["completed_at"],
        "voided_at": row.data["voided_at"],
    }


def _send(session: Session, envelope: NewEnvelope) -> Reply:
    row = create_record(
        session,
        system=SYSTEM.name,
        kind=ENVELOPE,
        prefix="ENV",
        status="sent",
        external_ref=envelope.external_ref,
        data={
            **envelope.model_dump(exclude={"external_ref"}),
            "completed_at": None,
            "voided_at": None,
        },
        action="sent",
    )
    return Reply(201, envelope_view(row), row)


@router.post("/envelopes", status_code=201)
def create_envelope(envelope: NewEnvelope, call: Call) -> JSONResponse:
    return call.create(lambda session: _send(session, envelope))


@router.get("/envelopes")
def list_envelopes(
    call: Call, external_ref: str | None = None, status: str | None = None
) -> dict[str, Any]:
    def query(session: Session) -> dict[str, Any]:
        rows = find_records(
            session, SYSTEM.name, ENVELOPE, status=status, external_ref=external_ref
        )
        return {"envelopes": [envelope_view(row) for row in rows]}

    return call.run(query)


def require_envelope(session: Session, envelope_id: str) -> RecordRow:
    return require_record(session, SYSTEM.name, ENVELOPE, envelope_id, "envelope")


@router.get("/envelopes/{envelope_id}")
def get_envelope(envelope_id: str, call: Call) -> dict[str, Any]:
    return call.run(lambda session: envelope_view(require_envelope(session, envelope_id)))


@router.post("/envelopes/{envelope_id}/void")
def void_envelope(envelope_id: str, call: Call) -> dict[str, Any]:
    """``sent`` → ``voided``; already voided answers it unchanged."""

    def void(session: Session) -> dict[str, Any]:
        row = require_envelope(session, envelope_id)
        if row.status == "completed":
            raise ApiError(
                422, "ENVELOPE_COMPLETED", f"envelope {row.id} is signed; it cannot be voided"
            )
        if row.status != "voided":
            change_status(session, row, "voided", "voided")
            stamp(row, "voided_at")
        return envelope_view(row)

    return call.run(void)


@SYSTEM.admin_router.post("/envelopes/{envelope_id}/sign")
def sign_envelope(envelope_id: str, call: Call) -> dict[str, Any]:
    """The signer signs: ``sent`` → ``completed``; already completed answers it unchanged."""

    def sign(session: Session) -> dict[str, Any]:
        row = require_envelope(session, envelope_id)
        if row.status == "voided":
            raise ApiError(
                422, "ENVELOPE_VOIDED", f"envelope {row.id} was voided; it cannot be signed"
            )
        if row.status != "completed":
            change_status(session, row, "completed", "completed")
            stamp(row, "completed_at")
            emit(
                session,
                system=SYSTEM.name,
                event_type="envelope.completed",
                data={
                    "envelope_id": row.id,
                    "external_ref": row.external_ref,
                    "completed_at": row.data["completed_at"],
                },
                record=row,
            )
        return envelope_view(row)

    return call.run(sign)
