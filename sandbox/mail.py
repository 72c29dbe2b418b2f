"""Mail stand-in (``/mail``, ``Authorization: Bearer``): sends nothing, keeps an outbox.

Every send needs an ``Idempotency-Key`` (``IDEMPOTENCY_KEY_REQUIRED``), so a retried
activity never mails a customer twice. Tags (e.g. ``business_key``) make the outbox searchable.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy.orm import Session

from sandbox.auth import BearerKey
from sandbox.db import RecordRow
from sandbox.idempotency import Reply
from sandbox.records import create_record, find_records
from sandbox.system import System, SystemCall

SYSTEM = System("mail", BearerKey(), idempotency_key_required=True)
router = SYSTEM.router
Call = Annotated[SystemCall, Depends(SYSTEM.call)]

MESSAGE = "message"

TagName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
TagValue = Annotated[str, StringConstraints(max_length=500)]


class NewMessage(BaseModel):
    to: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)
    subject: str = Field(min_length=1, max_length=998)
    body: str
    template: str | None = Field(default=None, min_length=1, max_length=128)
    tags: dict[TagName, TagValue] = Field(default_factory=dict)


def message_view(row: RecordRow, *, with_body: bool) -> dict[str, Any]:
    view = {
        "id": row.id,
        "status": row.status,
        "to": row.data["to"],
        "subject": row.data["subject"],
        "template": row.data["template"],
        "tags": row.data["tags"],
        "sent_at": row.created_at,
    }
    return {**view, "body": row.data["body"]} if with_body else view


def _send(session: Session, message: NewMessage) -> Reply:
    keys = {"to": message.to, **{f"tag:{name}": value for name, value in message.tags.items()}}
    if message.template is not None:
        keys["template"] = message.template
    row = create_record(
        session,
        system=SYSTEM.name,
        kind=MESSAGE,
        prefix="M",
        status="sent",
        data=message.model_dump(),
        keys=keys,
        action="sent",
    )
    return Reply(201, message_view(row, with_body=False), row)


@router.post("/messages", status_code=201)
def send_message(message: NewMessage, call: Call) -> JSONResponse:
    return call.create(lambda session: _send(session, message))


@router.get("/outbox")
def outbox(
    call: Call,
    to: str | None = None,
    template: str | None = None,
    business_key: str | None = None,
) -> dict[str, Any]:
    filters = {"to": to, "template": template, "tag:business_key": business_key}
    keys = {name: value for name, value in filters.items() if value is not None}

    def query(session: Session) -> dict[str, Any]:
        rows = find_records(session, SYSTEM.name, MESSAGE, keys=keys)
        return {"messages": [message_view(row, with_body=True) for row in rows]}

    return call.run(query)
