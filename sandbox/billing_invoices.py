"""Billing's invoices (``/billing/v1/invoices``, ``/billing/v1/invoiceitems``), Stripe's way:
a ``draft`` gets its lines as invoice items, is finalized to ``open``, then ``paid`` (see
``billing_payments.py``) or ``void``; a draft is deleted, not voided. See ``billing.py``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from sandbox.billing import (
    CUSTOMER,
    INVOICE,
    INVOICE_ITEM,
    NUMBER_KEY,
    SYSTEM,
    TAX_RATE,
    Call,
    form_of,
    meta_keys,
    record_page,
    require,
    router,
    search,
    unix,
)
from sandbox.db import RecordRow
from sandbox.idempotency import Reply
from sandbox.records import change_status, create_record, stamp, update_record
from sandbox.stripe_form import boolean, integer, invalid, metadata, metadata_search, parse, text


def invoice_view(row: RecordRow) -> dict[str, Any]:
    """Stripe's invoice object; an invoice a dev stack stored before billing spoke Stripe lacks
    the Stripe-only fields, which are defaulted (never a 500)."""
    data = row.data
    due_cents = data["total_cents"] - data["amount_paid_cents"]
    open_or_paid = row.status in ("open", "paid")
    return {
        "id": row.id,
        "object": "invoice",
        "status": row.status,
        "number": data.get("stripe_number"),
        "customer": data["customer_id"],
        "currency": data["currency"].lower(),
        "collection_method": data.get("collection_method", "send_invoice"),
        "auto_advance": data.get("auto_advance", False),
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": line.get("id"),
                    "object": "line_item",
                    "amount": line["amount_cents"],
                    "description": line["description"],
                    "quantity": line["quantity"],
                }
                for line in data["lines"]
            ],
            "has_more": False,
        },
        "subtotal": data["subtotal_cents"],
        "total_excluding_tax": data["subtotal_cents"],
        "total_taxes": [
            {
                "amount": line["tax_cents"],
                "tax_behavior": "exclusive",
                "taxability_reason": "standard_rated",
            }
            for line in data["lines"]
            if line["tax_cents"]
        ],
        "total": data["total_cents"],
        "amount_due": data["total_cents"] if row.status != "void" else 0,
        "amount_paid": data["amount_paid_cents"],
        "amount_remaining": due_cents if open_or_paid or row.status == "draft" else 0,
        "days_until_due": data.get("days_until_due"),
        "due_date": unix(data["due_at"]) if data.get("due_at") else None,
        "created": unix(row.created_at),
        "metadata": data["metadata"],
        "status_transitions": {
            "finalized_at": unix(data["finalized_at"]),
            "paid_at": unix(data["paid_at"]),
            "voided_at": unix(data["voided_at"]),
            "marked_uncollectible_at": None,
        },
        "livemode": False,
    }


@router.post("/v1/invoices")
async def create_invoice(request: Request, call: Call) -> JSONResponse:
    """A draft invoice; its items come with ``POST /v1/invoiceitems`` (``invoice=in_…``)."""
    params = await form_of(request)
    meta = metadata(params)
    customer_id = text(params, "customer", required=True, max_length=255) or ""
    currency = (text(params, "currency", max_length=3) or "eur").upper()
    method = text(params, "collection_method") or "charge_automatically"
    if method != "send_invoice":
        raise invalid(
            "the sandbox bills with collection_method=send_invoice only", "collection_method"
        )
    days = integer(params, "days_until_due")
    if days is None:
        raise invalid(
            "Missing required param: days_until_due.", "days_until_due", "parameter_missing"
        )
    behaviour = text(params, "pending_invoice_items_behavior") or "exclude"
    if behaviour != "exclude":
        raise invalid(
            "the sandbox adds invoice items to a draft by id only", "pending_invoice_items_behavior"
        )
    auto_advance = boolean(params, "auto_advance", False)

    def add(session: Session) -> Reply:
        customer = require(session, CUSTOMER, customer_id)
        number = meta.get(NUMBER_KEY, "")
        row = create_record(
            session,
            system=SYSTEM.name,
            kind=INVOICE,
            prefix="in_",
            status="draft",
            data={
                "number": number,
                "stripe_number": None,
                "customer_id": customer.id,
                "currency": currency,
                "collection_method": method,
                "days_until_due": days,
                "auto_advance": auto_advance,
                "lines": [],
                "subtotal_cents": 0,
                "tax_cents": 0,
                "total_cents": 0,
                "amount_paid_cents": 0,
                "payments": [],
                "metadata": meta,
                "due_at": None,
                "finalized_at": None,
                "paid_at": None,
                "voided_at": None,
            },
            keys={"number": number, "customer_id": customer.id, **meta_keys(meta)},
        )
        return Reply(200, invoice_view(row), row)

    return call.create(add)


@router.post("/v1/invoiceitems")
async def create_invoice_item(request: Request, call: Call) -> JSONResponse:
    """A line on a draft invoice: ``quantity`` times ``unit_amount_decimal`` (whole cents), taxed
    by its ``tax_rates``."""
    params = await form_of(request)
    invoice_id = text(params, "invoice")
    if invoice_id is None:
        raise invalid(
            "the sandbox adds invoice items to a draft invoice: set invoice",
            "invoice",
            "parameter_missing",
        )
    customer_id = text(params, "customer", required=True) or ""
    quantity = integer(params, "quantity", minimum=1, default=1) or 1
    unit = text(params, "unit_amount_decimal", required=True) or ""
    if not (unit.isascii() and unit.isdigit()) or len(unit) > 15:
        raise invalid("the sandbox takes unit_amount_decimal in whole cents", "unit_amount_decimal")
    rate_ids = params.get("tax_rates") or []
    if not isinstance(rate_ids, list) or not all(isinstance(r, str) for r in rate_ids):
        raise invalid("tax_rates must be a list of tax rate ids", "tax_rates")
    description = text(params, "description", max_length=500) or ""
    currency = text(params, "currency", max_length=3)

    def add(session: Session) -> Reply:
        invoice = require(session, INVOICE, invoice_id)
        if invoice.status != "draft":
            raise invalid(
                f"Invoice {invoice.id} is not a draft; items can only be added to drafts", "invoice"
            )
        if invoice.data["customer_id"] != customer_id:
            raise invalid(f"Invoice {invoice.id} belongs to another customer", "customer")
        if currency is not None and currency.upper() != invoice.data["currency"]:
            raise invalid(
                f"Invoice {invoice.id} is in {invoice.data['currency'].lower()}", "currency"
            )
        percentages = [require(session, TAX_RATE, r).data["percentage"] for r in rate_ids]
        amount = quantity * int(unit)
        tax = sum(_tax(amount, p) for p in percentages)
        row = create_record(
            session,
            system=SYSTEM.name,
            kind=INVOICE_ITEM,
            prefix="ii_",
            status="attached",
            data={
                "invoice": invoice.id,
                "amount": amount,
                "quantity": quantity,
                "description": description,
                "tax_rates": rate_ids,
            },
            keys={"invoice": invoice.id},
        )
        line = {
            "id": row.id,
            "description": description,
            "quantity": quantity,
            "unit_price_cents": int(unit),
            "tax_rates": rate_ids,
            "amount_cents": amount,
            "tax_cents": tax,
        }
        lines = [*invoice.data["lines"], line]
        subtotal = sum(li["amount_cents"] for li in lines)
        taxes = sum(li["tax_cents"] for li in lines)
        update_record(
            session,
            invoice,
            {
                "lines": lines,
                "subtotal_cents": subtotal,
                "tax_cents": taxes,
                "total_cents": subtotal + taxes,
            },
            action="line_added",
        )
        view = {
            "id": row.id,
            "object": "invoiceitem",
            "invoice": invoice.id,
            "customer": customer_id,
            "amount": amount,
            "currency": invoice.data["currency"].lower(),
            "quantity": quantity,
            "description": description,
            "livemode": False,
        }
        return Reply(200, view, row)

    return call.create(add)


def _tax(amount: int, percentage: float) -> int:
    exact = Decimal(amount) * Decimal(str(percentage)) / Decimal(100)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


@router.get("/v1/invoices/search")
def search_invoices(call: Call, query: str | None = None) -> dict[str, Any]:
    wanted = metadata_search(query)
    return call.run(lambda s: search(s, INVOICE, wanted, invoice_view, "/v1/invoices/search"))


@router.get("/v1/invoices")
async def list_invoices(request: Request, call: Call) -> dict[str, Any]:
    """Newest first; ``customer``, ``status`` and ``created[gt|gte|lt|lte]`` filters."""
    params = parse(request.url.query)
    created = params.get("created", {})
    if isinstance(created, str):
        created = {"eq": created}
    if not isinstance(created, dict):
        raise invalid("Invalid created filter", "created")
    bounds = {op: integer(created, op) for op in ("gt", "gte", "lt", "lte", "eq")}
    customer, status = text(params, "customer"), text(params, "status")

    keys = None if customer is None else {"customer_id": customer}

    def query(session: Session) -> dict[str, Any]:
        return record_page(
            session,
            INVOICE,
            params,
            invoice_view,
            "/v1/invoices",
            status=status,
            keys=keys,
            created=bounds,
        )

    return call.run(query)


@router.get("/v1/invoices/{invoice_id}")
def get_invoice(invoice_id: str, call: Call) -> dict[str, Any]:
    return call.run(lambda s: invoice_view(require(s, INVOICE, invoice_id)))


@router.delete("/v1/invoices/{invoice_id}")
def delete_invoice(invoice_id: str, call: Call) -> dict[str, Any]:
    """Only a draft can be deleted (a finalized invoice is voided instead)."""

    def delete(session: Session) -> dict[str, Any]:
        row = require(session, INVOICE, invoice_id)
        if row.status != "draft":
            raise invalid(
                f"You can only delete draft invoices; {row.id} is {row.status}", "invoice"
            )
        change_status(session, row, "deleted", "deleted")
        return {"id": row.id, "object": "invoice", "deleted": True}

    return call.run(delete)


@router.post("/v1/invoices/{invoice_id}/finalize")
async def finalize_invoice(invoice_id: str, request: Request, call: Call) -> dict[str, Any]:
    """``draft`` → ``open``: the invoice gets its number and due date."""
    params = await form_of(request)
    boolean(params, "auto_advance", False)

    def finalize(session: Session) -> dict[str, Any]:
        row = require(session, INVOICE, invoice_id)
        if row.status != "draft":
            raise invalid(
                f"Invoice {row.id} is already finalized ({row.status})",
                "invoice",
                "invoice_not_editable",
            )
        if not row.data["lines"]:
            raise invalid(f"Invoice {row.id} has no line items", "invoice", "invoice_no_line_items")
        change_status(session, row, "open", "finalized")
        stamp(row, "finalized_at")
        finalized = datetime.fromisoformat(row.data["finalized_at"].replace("Z", "+00:00"))
        due = finalized.timestamp() + row.data.get("days_until_due", 0) * 86_400
        due_at = datetime.fromtimestamp(due, finalized.tzinfo).isoformat().replace("+00:00", "Z")
        row.data = {
            **row.data,
            "stripe_number": row.data["number"] or row.id.upper(),
            "due_at": due_at,
        }
        return invoice_view(row)

    return call.run(finalize)


@router.post("/v1/invoices/{invoice_id}/void")
def void_invoice(invoice_id: str, call: Call) -> dict[str, Any]:
    """``open`` (and nothing paid) → ``void``."""

    def void(session: Session) -> dict[str, Any]:
        row = require(session, INVOICE, invoice_id)
        if row.status != "open" or row.data["amount_paid_cents"]:
            raise invalid(
                f"Invoice {row.id} is {row.status} with {row.data['amount_paid_cents']} paid; "
                "only an open invoice without payments can be voided",
                "invoice",
                "invoice_not_editable",
            )
        change_status(session, row, "void", "voided")
        stamp(row, "voided_at")
        return invoice_view(row)

    return call.run(void)
