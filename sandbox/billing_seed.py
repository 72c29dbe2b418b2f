"""Bulk seeding of billing (admin): a whole day of issued invoices at once, for the
reconciliation's tests and benchmark (``POST /_admin/billing/invoices/seed``).

The invoices are what ``POST /v1/invoices``, ``/v1/invoiceitems`` and ``/finalize`` would make
(one taxed line, ``open``, numbered ``<prefix>-000001`` on), created and finalized at even steps
across the local day, so Stripe's list (newest first) pages them as it pages any other day. Each
names the CRM deal ``deal_ids[i % len(deal_ids)]`` in ``metadata[crm_deal_id]`` (none when the
list is empty). Written in bulk, with one ledger event for the lot: 100,000 invoices take seconds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from sandbox.billing import CUSTOMER, INVOICE, NUMBER_KEY, SYSTEM, Call, meta_keys
from sandbox.db import RecordKeyRow, RecordRow, SequenceRow
from sandbox.ledger import append_event
from sandbox.records import create_record
from sandbox.store import utc_now

DEAL_KEY = "crm_deal_id"
# Rows per INSERT statement: big enough to be fast, small enough for SQLite's variable limit.
BATCH = 2_000


class InvoiceSeed(BaseModel):
    day: date
    count: int = Field(ge=1, le=200_000)
    time_zone: str = "UTC"
    prefix: str = Field(default="SEED", min_length=1, max_length=40, pattern=r"^[A-Za-z0-9-]+$")
    deal_ids: list[str] = []
    amount_cents: int = Field(default=10_000, ge=0)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as UTC") from None
        return value


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _reserve_ids(session: Session, count: int) -> int:
    """The last invoice number in use before `count` new ones (Stripe's ``in_000001`` shape)."""
    sequence = session.scalars(
        select(SequenceRow)
        .where(SequenceRow.system == SYSTEM.name, SequenceRow.kind == INVOICE)
        .with_for_update()
    ).one_or_none()
    if sequence is None:
        sequence = SequenceRow(system=SYSTEM.name, kind=INVOICE, last_value=0)
        session.add(sequence)
    first = sequence.last_value
    sequence.last_value += count
    return first


def _invoice(seed: InvoiceSeed, index: int, customer_id: str, at: str) -> dict[str, Any]:
    number = f"{seed.prefix}-{index + 1:06d}"
    meta = {NUMBER_KEY: number}
    if seed.deal_ids:
        meta[DEAL_KEY] = seed.deal_ids[index % len(seed.deal_ids)]
    tax = seed.amount_cents * 19 // 100
    due = datetime.fromisoformat(at.replace("Z", "+00:00")) + timedelta(days=30)
    return {
        "number": number,
        "stripe_number": number,
        "customer_id": customer_id,
        "currency": "EUR",
        "collection_method": "send_invoice",
        "days_until_due": 30,
        "auto_advance": False,
        "lines": [
            {
                "id": f"il_seed_{index + 1:06d}",
                "description": "Seeded service",
                "quantity": 1,
                "amount_cents": seed.amount_cents,
                "tax_cents": tax,
            }
        ],
        "subtotal_cents": seed.amount_cents,
        "tax_cents": tax,
        "total_cents": seed.amount_cents + tax,
        "amount_paid_cents": 0,
        "payments": [],
        "metadata": meta,
        "due_at": _stamp(due),
        "finalized_at": at,
        "paid_at": None,
        "voided_at": None,
    }


def seed_invoices(session: Session, seed: InvoiceSeed) -> dict[str, Any]:
    zone = ZoneInfo(seed.time_zone)
    start = datetime.combine(seed.day, time(), zone)
    length = datetime.combine(seed.day + timedelta(days=1), time(), zone) - start
    step = length / seed.count
    customer = create_record(
        session,
        system=SYSTEM.name,
        kind=CUSTOMER,
        prefix="cus_",
        status="active",
        data={"name": f"Seeded {seed.prefix} Ltd", "email": None, "metadata": {}},
    )
    last = _reserve_ids(session, seed.count)
    for offset in range(0, seed.count, BATCH):
        records, keys = [], []
        for index in range(offset, min(offset + BATCH, seed.count)):
            record_id = f"in_{last + index + 1:06d}"
            at = _stamp(start + step * index)
            data = _invoice(seed, index, customer.id, at)
            records.append(
                {
                    "system": SYSTEM.name,
                    "id": record_id,
                    "kind": INVOICE,
                    "external_ref": None,
                    "status": "open",
                    "data": data,
                    "created_at": at,
                    "updated_at": at,
                }
            )
            searchable = {"number": data["number"], "customer_id": customer.id}
            for name, value in (searchable | meta_keys(data["metadata"])).items():
                keys.append(
                    {"system": SYSTEM.name, "record_id": record_id, "name": name, "value": value}
                )
        session.execute(insert(RecordRow), records)
        session.execute(insert(RecordKeyRow), keys)
    append_event(
        session,
        system=SYSTEM.name,
        action="seeded",
        kind=INVOICE,
        detail={"day": seed.day.isoformat(), "count": seed.count, "prefix": seed.prefix},
    )
    return {
        "day": seed.day.isoformat(),
        "count": seed.count,
        "first_id": f"in_{last + 1:06d}",
        "last_id": f"in_{last + seed.count:06d}",
        "customer": customer.id,
        "seeded_at": utc_now(),
    }


@SYSTEM.admin_router.post("/invoices/seed", status_code=201)
def seed(body: InvoiceSeed, call: Call) -> dict[str, Any]:
    """A day of ``count`` issued invoices (admin token); see the module's docstring."""
    return call.run(lambda session: seed_invoices(session, body))
