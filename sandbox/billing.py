"""Billing stand-in (``/billing``, ``Authorization: Bearer``): customers and invoices.

An invoice is ``draft`` → ``open`` (finalized) → ``paid``, or ``void``. Tax is computed per
line and rounded half-even to whole cents. Creating an invoice needs an ``Idempotency-Key``
(``IDEMPOTENCY_KEY_REQUIRED``) and a number no other invoice has (``DUPLICATE_INVOICE_NUMBER``).
Payments, made by the customer, come in through the admin API: see ``billing_payments.py``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any

from fastapi import Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy.orm import Session

from sandbox.auth import BearerKey
from sandbox.db import RecordRow
from sandbox.errors import ApiError
from sandbox.fields import Currency, Email, Name, RecordId
from sandbox.idempotency import Reply
from sandbox.records import (
    change_status,
    create_record,
    find_records,
    require_record,
    stamp,
)
from sandbox.system import System, SystemCall

SYSTEM = System("billing", BearerKey(), webhook_events=("invoice.paid",))
router = SYSTEM.router
Call = Annotated[SystemCall, Depends(SYSTEM.call)]

CUSTOMER = "customer"
INVOICE = "invoice"

InvoiceNumber = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MetadataValue = Annotated[str, StringConstraints(max_length=500)]


class NewCustomer(BaseModel):
    external_ref: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    name: Name
    email: Email
    currency: Currency


class InvoiceLine(BaseModel):
    description: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    # Money and counts are JSON integers only: no "2" and no 2.0.
    quantity: int = Field(strict=True, gt=0, le=1_000_000_000)
    unit_price_cents: int = Field(strict=True, ge=0, le=10**15)
    tax_rate_bp: int = Field(default=0, strict=True, ge=0, le=10_000, description="1900 = 19 %")


class NewInvoice(BaseModel):
    customer_id: RecordId
    number: InvoiceNumber
    currency: Currency
    lines: list[InvoiceLine] = Field(min_length=1, max_length=200)
    payment_terms: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None
    due_date: date | None = None
    metadata: dict[MetadataKey, MetadataValue] = Field(default_factory=dict, max_length=50)


def line_tax_cents(line: InvoiceLine) -> int:
    """``round_half_even(quantity * unit_price_cents * tax_rate_bp / 10000)``, exactly."""
    exact = Decimal(line.quantity * line.unit_price_cents * line.tax_rate_bp) / Decimal(10_000)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def priced_lines(lines: list[InvoiceLine]) -> list[dict[str, Any]]:
    return [
        {
            **line.model_dump(),
            "amount_cents": line.quantity * line.unit_price_cents,
            "tax_cents": line_tax_cents(line),
        }
        for line in lines
    ]


def customer_view(row: RecordRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "external_ref": row.external_ref,
        "name": row.data["name"],
        "email": row.data["email"],
        "currency": row.data["currency"],
        "created_at": row.created_at,
    }


def invoice_view(row: RecordRow) -> dict[str, Any]:
    data = row.data
    fields = ("number", "customer_id", "currency", "lines", "subtotal_cents", "tax_cents")
    return {
        "id": row.id,
        "status": row.status,
        **{name: data[name] for name in fields},
        "total_cents": data["total_cents"],
        "amount_paid_cents": data["amount_paid_cents"],
        "amount_due_cents": data["total_cents"] - data["amount_paid_cents"],
        "payment_terms": data["payment_terms"],
        "due_date": data["due_date"],
        "metadata": data["metadata"],
        "payments": data["payments"],
        "created_at": row.created_at,
        "finalized_at": data["finalized_at"],
        "paid_at": data["paid_at"],
        "voided_at": data["voided_at"],
    }


def _add_customer(session: Session, customer: NewCustomer) -> Reply:
    row = create_record(
        session,
        system=SYSTEM.name,
        kind=CUSTOMER,
        prefix="CUS",
        status="active",
        external_ref=customer.external_ref,
        data=customer.model_dump(exclude={"external_ref"}),
    )
    return Reply(201, customer_view(row), row)


@router.post("/customers", status_code=201)
def create_customer(customer: NewCustomer, call: Call) -> JSONResponse:
    return call.create(lambda session: _add_customer(session, customer))


@router.get("/customers")
def list_customers(call: Call, external_ref: str | None = None) -> dict[str, Any]:
    def query(session: Session) -> dict[str, Any]:
        rows = find_records(session, SYSTEM.name, CUSTOMER, external_ref=external_ref)
        return {"customers": [customer_view(row) for row in rows]}

    return call.run(query)


@router.get("/customers/{customer_id}")
def get_customer(customer_id: str, call: Call) -> dict[str, Any]:
    return call.run(
        lambda session: customer_view(
            require_record(session, SYSTEM.name, CUSTOMER, customer_id, "customer")
        )
    )


def _draft_invoice(session: Session, invoice: NewInvoice) -> Reply:
    customer = require_record(session, SYSTEM.name, CUSTOMER, invoice.customer_id, "customer")
    if customer.data["currency"] != invoice.currency:
        raise ApiError(
            422,
            "CURRENCY_MISMATCH",
            f"customer {customer.id} is billed in {customer.data['currency']}, "
            f"not {invoice.currency}",
        )
    same_number = find_records(session, SYSTEM.name, INVOICE, keys={"number": invoice.number})
    if same_number:
        raise ApiError(
            422,
            "DUPLICATE_INVOICE_NUMBER",
            f"invoice {same_number[0].id} already has number {invoice.number!r}",
        )
    lines = priced_lines(invoice.lines)
    subtotal = sum(line["amount_cents"] for line in lines)
    tax = sum(line["tax_cents"] for line in lines)
    row = create_record(
        session,
        system=SYSTEM.name,
        kind=INVOICE,
        prefix="INV",
        status="draft",
        data={
            **invoice.model_dump(mode="json", exclude={"lines"}),
            "lines": lines,
            "subtotal_cents": subtotal,
            "tax_cents": tax,
            "total_cents": subtotal + tax,
            "amount_paid_cents": 0,
            "payments": [],
            "finalized_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        keys={"number": invoice.number, "customer_id": invoice.customer_id},
    )
    return Reply(201, invoice_view(row), row)


@router.post("/invoices", status_code=201)
def create_invoice(invoice: NewInvoice, call: Call) -> JSONResponse:
    """A draft invoice; needs an ``Idempotency-Key``."""
    return call.create(lambda session: _draft_invoice(session, invoice), key_required=True)


@router.get("/invoices")
def list_invoices(
    call: Call,
    number: str | None = None,
    customer_id: str | None = None,
    status: str | None = None,
    finalized_from: datetime | None = None,
    finalized_before: datetime | None = None,
) -> dict[str, Any]:
    """``finalized_from`` (included) and ``finalized_before`` (excluded) are instants with a
    UTC offset; either one leaves out invoices never finalized (drafts, voided drafts)."""
    filters = {"number": number, "customer_id": customer_id}
    keys = {name: value for name, value in filters.items() if value is not None}
    window = (
        _instant("finalized_from", finalized_from),
        _instant("finalized_before", finalized_before),
    )

    def query(session: Session) -> dict[str, Any]:
        rows = find_records(session, SYSTEM.name, INVOICE, status=status, keys=keys)
        if window != (None, None):
            rows = [row for row in rows if _finalized_within(row, *window)]
        return {"invoices": [invoice_view(row) for row in rows]}

    return call.run(query)


def _instant(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.utcoffset() is None:
        raise ApiError(
            422,
            "VALIDATION_ERROR",
            f"query.{name}: needs a UTC offset, e.g. 2026-03-01T00:00:00Z",
        )
    return value


def _finalized_within(row: RecordRow, start: datetime | None, end: datetime | None) -> bool:
    stamped = row.data.get("finalized_at")
    if not stamped:
        return False
    at = datetime.fromisoformat(stamped)
    return (start is None or at >= start) and (end is None or at < end)


def require_invoice(session: Session, invoice_id: str) -> RecordRow:
    return require_record(session, SYSTEM.name, INVOICE, invoice_id, "invoice")


@router.get("/invoices/{invoice_id}")
def get_invoice(invoice_id: str, call: Call) -> dict[str, Any]:
    return call.run(lambda session: invoice_view(require_invoice(session, invoice_id)))


@router.post("/invoices/{invoice_id}/finalize")
def finalize_invoice(invoice_id: str, call: Call) -> dict[str, Any]:
    """``draft`` → ``open``; already open answers it unchanged."""

    def finalize(session: Session) -> dict[str, Any]:
        row = require_invoice(session, invoice_id)
        if row.status not in ("draft", "open"):
            raise ApiError(
                422,
                "INVALID_STATE",
                f"invoice {row.id} is {row.status}; only a draft invoice can be finalized",
            )
        if row.status == "draft":
            change_status(session, row, "open", "finalized")
            stamp(row, "finalized_at")
        return invoice_view(row)

    return call.run(finalize)


@router.post("/invoices/{invoice_id}/void")
def void_invoice(invoice_id: str, call: Call) -> dict[str, Any]:
    """``draft`` or ``open`` → ``void``; already void answers it unchanged."""

    def void(session: Session) -> dict[str, Any]:
        row = require_invoice(session, invoice_id)
        if row.status == "paid" or (row.status != "void" and row.data["amount_paid_cents"]):
            raise ApiError(
                422,
                "INVOICE_PAID",
                f"invoice {row.id} has payments ({row.data['amount_paid_cents']} of "
                f"{row.data['total_cents']} cents paid); it cannot be voided",
            )
        if row.status != "void":
            change_status(session, row, "void", "voided")
            stamp(row, "voided_at")
        return invoice_view(row)

    return call.run(void)
