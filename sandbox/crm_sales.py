"""The CRM's sales pipeline: leads (deduplicated by email) and deals moving through stages.

A deal's stage change emits the webhook event ``deal.stage_changed``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import Session

from sandbox.crm import SYSTEM, require_account
from sandbox.db import RecordRow
from sandbox.errors import validation_error
from sandbox.fields import Currency, Domain, Email, Name, RecordId, ShortText, refuse_nulls
from sandbox.idempotency import Reply
from sandbox.records import (
    change_status,
    create_record,
    find_records,
    require_record,
    set_key,
    update_record,
)
from sandbox.store import utc_now
from sandbox.system import SystemCall
from sandbox.webhooks import emit

router = SYSTEM.router
Call = Annotated[SystemCall, Depends(SYSTEM.call)]

LEAD = "lead"
DEAL = "deal"

Stage = Literal["qualification", "proposal", "negotiation", "closed_won", "closed_lost"]
Note = Annotated[str, StringConstraints(min_length=1, max_length=5000)]
BasisPoints = Annotated[int, Field(strict=True, ge=0, le=10_000)]


class NewLead(BaseModel):
    email: Email
    name: Name | None = None
    company: Name | None = None
    domain: Domain | None = None
    source: ShortText | None = None
    form: dict[str, Any] = Field(default_factory=dict)


class NewDeal(BaseModel):
    account_id: RecordId | None = None
    lead_id: RecordId | None = None
    name: Name
    amount_cents: int = Field(strict=True, ge=0)
    currency: Currency
    stage: Stage = "qualification"
    owner: Name | None = None
    discount_bp: BasisPoints | None = None
    external_ref: ShortText | None = None


class StageChange(BaseModel):
    """``POST /_admin/crm/deals/{id}/stage``: a sales rep moves the deal in the CRM's UI."""

    model_config = ConfigDict(extra="forbid")

    stage: Stage


class DealChanges(BaseModel):
    """``PATCH /crm/deals/{id}``: the fields to change; ``note`` is appended to ``notes``."""

    model_config = ConfigDict(extra="forbid")

    stage: Stage | None = None
    owner: Name | None = None
    account_id: RecordId | None = None
    invoice_id: RecordId | None = None
    invoice_status: ShortText | None = None
    note: Note | None = None
    amount_cents: int | None = Field(default=None, strict=True, ge=0)
    discount_bp: BasisPoints | None = None


def lead_view(row: RecordRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        **{name: row.data[name] for name in ("email", "name", "company", "domain", "source")},
        "form": row.data["form"],
        "submissions": row.data["submissions"],
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def deal_view(row: RecordRow) -> dict[str, Any]:
    fields = ("name", "lead_id", "account_id", "amount_cents", "currency", "owner", "external_ref")
    more = ("discount_bp", "invoice_id", "invoice_status", "notes")
    return {
        "id": row.id,
        "stage": row.status,
        **{name: row.data.get(name) for name in fields + more},
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _capture_lead(session: Session, lead: NewLead) -> Reply:
    email = lead.email.lower()
    same_email = find_records(session, SYSTEM.name, LEAD, keys={"email": email})
    if same_email:
        existing = same_email[0]
        update_record(
            session,
            existing,
            {"submissions": existing.data["submissions"] + 1},
            action="deduplicated",
            detail={"source": lead.source},
        )
        return Reply(200, lead_view(existing), existing)
    row = create_record(
        session,
        system=SYSTEM.name,
        kind=LEAD,
        prefix="LEAD",
        status="new",
        data={**lead.model_dump(), "submissions": 1},
        keys={"email": email},
    )
    return Reply(201, lead_view(row), row)


@router.post("/leads", status_code=201)
def create_lead(lead: NewLead, call: Call) -> JSONResponse:
    """A new lead (201), or the existing one with the same email, any case (200)."""
    return call.create(lambda session: _capture_lead(session, lead))


@router.get("/leads")
def list_leads(call: Call, email: str | None = None) -> dict[str, Any]:
    keys = {} if email is None else {"email": email.lower()}

    def query(session: Session) -> dict[str, Any]:
        return {
            "leads": [lead_view(row) for row in find_records(session, SYSTEM.name, LEAD, keys=keys)]
        }

    return call.run(query)


@router.get("/leads/{lead_id}")
def get_lead(lead_id: str, call: Call) -> dict[str, Any]:
    return call.run(
        lambda session: lead_view(require_record(session, SYSTEM.name, LEAD, lead_id, "lead"))
    )


def _open_deal(session: Session, deal: NewDeal) -> Reply:
    if deal.lead_id is not None:
        require_record(session, SYSTEM.name, LEAD, deal.lead_id, "lead")
    if deal.account_id is not None:
        require_account(session, deal.account_id)
    data = deal.model_dump(exclude={"stage"})
    row = create_record(
        session,
        system=SYSTEM.name,
        kind=DEAL,
        prefix="DEAL",
        status=deal.stage,
        data={**data, "invoice_id": None, "invoice_status": None, "notes": []},
        keys={
            name: value
            for name, value in (("lead_id", deal.lead_id), ("account_id", deal.account_id))
            if value is not None
        },
    )
    return Reply(201, deal_view(row), row)


@router.post("/deals", status_code=201)
def create_deal(deal: NewDeal, call: Call) -> JSONResponse:
    return call.create(lambda session: _open_deal(session, deal))


@router.get("/deals")
def list_deals(
    call: Call,
    lead_id: str | None = None,
    account_id: str | None = None,
    stage: str | None = None,
) -> dict[str, Any]:
    filters = {"lead_id": lead_id, "account_id": account_id}
    keys = {name: value for name, value in filters.items() if value is not None}

    def query(session: Session) -> dict[str, Any]:
        rows = find_records(session, SYSTEM.name, DEAL, status=stage, keys=keys)
        return {"deals": [deal_view(row) for row in rows]}

    return call.run(query)


@router.get("/deals/{deal_id}")
def get_deal(deal_id: str, call: Call) -> dict[str, Any]:
    return call.run(
        lambda session: deal_view(require_record(session, SYSTEM.name, DEAL, deal_id, "deal"))
    )


def _change_deal(session: Session, deal_id: str, fields: dict[str, Any]) -> Reply:
    row = require_record(session, SYSTEM.name, DEAL, deal_id, "deal")
    if fields.get("account_id") is not None:
        require_account(session, fields["account_id"])
    note = fields.pop("note", None)
    if note is not None:
        fields["notes"] = [*row.data["notes"], {"text": note, "at": utc_now()}]
    stage = fields.pop("stage", None)
    update_record(session, row, fields)
    set_key(session, row, "account_id", row.data["account_id"])
    if stage is not None and stage != row.status:
        previous = row.status
        change_status(session, row, stage, "stage_changed")
        emit(
            session,
            system=SYSTEM.name,
            event_type="deal.stage_changed",
            data={
                "deal_id": row.id,
                "external_ref": row.data.get("external_ref"),
                "lead_id": row.data["lead_id"],
                "account_id": row.data["account_id"],
                "previous_stage": previous,
                "stage": stage,
                "changed_at": row.updated_at,
            },
            record=row,
        )
    return Reply(200, deal_view(row), row)


@router.patch("/deals/{deal_id}")
def change_deal(deal_id: str, changes: DealChanges, call: Call) -> JSONResponse:
    """Change a deal; with an ``Idempotency-Key`` a retry replays, never adds a note twice."""
    fields = changes.model_dump(exclude_unset=True)
    refuse_nulls(fields, ("stage", "note", "amount_cents"))
    if not fields:
        raise validation_error(
            "body: nothing to change; send one or more of " + ", ".join(DealChanges.model_fields)
        )
    return call.create(lambda session: _change_deal(session, deal_id, dict(fields)))


@SYSTEM.admin_router.post("/deals/{deal_id}/stage")
def move_deal(deal_id: str, change: StageChange, call: Call) -> JSONResponse:
    """A person moves the deal to another stage (emits ``deal.stage_changed`` on a change)."""
    return call.create(lambda session: _change_deal(session, deal_id, {"stage": change.stage}))
