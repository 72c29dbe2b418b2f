"""Customers paying their invoices, through the admin API (tests, the demo, the CLI).

``POST /_admin/billing/invoices/{number}/payments`` records a payment on an ``open`` invoice;
partial payments add up until the invoice is ``paid``. Like Stripe, every payment emits
``invoice.updated`` (``data.object`` the invoice, ``data.previous_attributes`` its former
``amount_paid``), and the payment that settles the invoice ``invoice.paid`` too.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy.orm import Session

from sandbox.billing import API_VERSION, INVOICE, SYSTEM
from sandbox.billing_invoices import invoice_view
from sandbox.db import RecordRow
from sandbox.errors import ApiError, not_found
from sandbox.idempotency import Reply
from sandbox.records import (
    change_status,
    create_record,
    find_records,
    set_key,
    stamp,
    update_record,
)
from sandbox.system import SystemCall
from sandbox.webhooks import emit

Call = Annotated[SystemCall, Depends(SYSTEM.call)]

PAYMENT = "payment"


class NewPayment(BaseModel):
    amount_cents: int = Field(strict=True, gt=0)
    payment_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


def payment_view(row: RecordRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "payment_id": row.external_ref,
        "invoice_id": row.data["invoice_id"],
        "amount_cents": row.data["amount_cents"],
        "currency": row.data["currency"],
        "received_at": row.created_at,
    }


def _answer(status_code: int, payment: RecordRow, invoice: RecordRow) -> Reply:
    body = {"payment": payment_view(payment), "invoice": invoice_view(invoice)}
    return Reply(status_code, body, payment)


def _known_payment(session: Session, invoice: RecordRow, payment: NewPayment) -> RecordRow | None:
    """The payment already recorded under this ``payment_id``, if it is this very payment."""
    if payment.payment_id is None:
        return None
    same_id = find_records(session, SYSTEM.name, PAYMENT, external_ref=payment.payment_id)
    if not same_id:
        return None
    known = same_id[0]
    if known.data["invoice_id"] != invoice.id or known.data["amount_cents"] != payment.amount_cents:
        raise ApiError(
            422,
            "DUPLICATE_PAYMENT_ID",
            f"payment_id {payment.payment_id!r} was already used for {known.data['amount_cents']} "
            f"cents on invoice {known.data['invoice_id']}",
        )
    return known


def _pay(session: Session, number: str, payment: NewPayment) -> Reply:
    invoices = find_records(session, SYSTEM.name, INVOICE, keys={"number": number})
    if not invoices:
        raise not_found(f"billing invoice number {number!r}")
    invoice = invoices[0]
    known = _known_payment(session, invoice, payment)
    if known is not None:
        return _answer(200, known, invoice)
    if invoice.status != "open":
        raise ApiError(
            422,
            "INVALID_STATE",
            f"invoice {invoice.id} is {invoice.status}; only an open invoice can be paid",
        )
    due = invoice.data["total_cents"] - invoice.data["amount_paid_cents"]
    if payment.amount_cents > due:
        raise ApiError(
            422,
            "OVERPAYMENT",
            f"invoice {invoice.id} has {due} cents due; {payment.amount_cents} is too much",
        )
    row = create_record(
        session,
        system=SYSTEM.name,
        kind=PAYMENT,
        prefix="PAY",
        status="succeeded",
        external_ref=payment.payment_id,
        data={
            "invoice_id": invoice.id,
            "number": number,
            "amount_cents": payment.amount_cents,
            "currency": invoice.data["currency"],
        },
        keys={"invoice_id": invoice.id},
    )
    if row.external_ref is None:
        row.external_ref = row.id
    set_key(session, row, "payment_id", row.external_ref)
    paid = invoice.data["amount_paid_cents"] + payment.amount_cents
    entry = {"id": row.id, "payment_id": row.external_ref, "amount_cents": payment.amount_cents}
    update_record(
        session,
        invoice,
        {
            "amount_paid_cents": paid,
            "payments": [*invoice.data["payments"], {**entry, "received_at": row.created_at}],
        },
        action="payment_applied",
        detail={"payment_id": row.external_ref},
    )
    if paid == invoice.data["total_cents"]:
        change_status(session, invoice, "paid", "paid")
        stamp(invoice, "paid_at")
    previous = {"amount_paid": paid - payment.amount_cents, "amount_remaining": due}
    if invoice.status == "paid":
        previous["status"] = "open"
    _emit(session, invoice, "invoice.updated", previous)
    if invoice.status == "paid":
        _emit(session, invoice, "invoice.paid", None)
    return _answer(201, row, invoice)


@SYSTEM.admin_router.post("/invoices/{number}/payments", status_code=201)
def record_payment(number: str, payment: NewPayment, call: Call) -> JSONResponse:
    """The customer pays ``amount_cents`` of an open invoice (201; 200 for a known payment_id)."""
    return call.create(lambda session: _pay(session, number, payment))


def _emit(
    session: Session, invoice: RecordRow, event_type: str, previous: dict[str, Any] | None
) -> None:
    """A Stripe event: ``{"id", "object": "event", "type", "data": {"object", …}}``."""
    data: dict[str, Any] = {"object": invoice_view(invoice)}
    if previous is not None:
        data["previous_attributes"] = previous
    emit(
        session,
        system=SYSTEM.name,
        event_type=event_type,
        data=data,
        record=invoice,
        envelope={"object": "event", "api_version": API_VERSION, "livemode": False},
    )
