"""Billing stand-in (``/billing``): a stateful emulation of the subset of Stripe's API the
billing activities use, so everything runs offline on the same requests real Stripe gets.

``/billing/v1/customers`` (+ ``/search``), ``/v1/tax_rates``, ``/v1/invoiceitems`` and
``/v1/invoices`` (+ ``/search``, ``/{id}``, ``/finalize``, ``/void``, ``DELETE``): form-encoded
bodies, ``cus_``/``txr_``/``ii_``/``in_`` ids, Stripe's statuses (an invoice is ``draft`` →
``open`` → ``paid``, or ``void``; a deleted draft is gone), list pages (``limit``,
``starting_after``, ``created``/``status``/``customer`` filters), Stripe's error shape and
``Idempotency-Key`` semantics (same key and body: the first answer again; another body: a 400
``idempotency_error``). Tax is per line, ``round_half_even(amount * percentage / 100)``.
Payments come in through the admin API (``billing_payments.py``) and emit Stripe events.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from sandbox.auth import BearerKey
from sandbox.db import RecordRow
from sandbox.errors import ApiError
from sandbox.idempotency import Reply
from sandbox.records import (
    change_status,
    create_record,
    find_records,
    get_record,
    stamp,
    update_record,
)
from sandbox.stripe_form import boolean, integer, invalid, metadata, metadata_search, parse, text
from sandbox.system import System, SystemCall

SYSTEM = System("billing", BearerKey(), webhook_events=("invoice.paid", "invoice.updated"))
router = SYSTEM.router
Call = Annotated[SystemCall, Depends(SYSTEM.call)]

CUSTOMER = "customer"
INVOICE = "invoice"
INVOICE_ITEM = "invoiceitem"
TAX_RATE = "tax_rate"
API_VERSION = "2026-08-26.dahlia"
NUMBER_KEY = "invoice_number"  # the metadata key the ledger indexes invoices by


def unix(stamped: str | None) -> int | None:
    return (
        None
        if stamped is None
        else int(datetime.fromisoformat(stamped.replace("Z", "+00:00")).timestamp())
    )


def missing(kind: str, record_id: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"No such {kind}: '{record_id}'", param="id", stripe=True)


def _meta_keys(meta: dict[str, str]) -> dict[str, str]:
    return {f"meta:{key}": value for key, value in meta.items()}


async def form_of(request: Request) -> dict[str, Any]:
    return parse((await request.body()).decode(errors="replace"))


# ----- customers --------------------------------------------------------------------------


def customer_view(row: RecordRow) -> dict[str, Any]:
    data = row.data
    return {
        "id": row.id,
        "object": "customer",
        "created": unix(row.created_at),
        "name": data["name"],
        "email": data["email"],
        "metadata": data["metadata"],
        "livemode": False,
    }


@router.post("/v1/customers")
async def create_customer(request: Request, call: Call) -> JSONResponse:
    params = await form_of(request)
    meta = metadata(params)
    fields = {
        "name": text(params, "name", max_length=256),
        "email": text(params, "email", max_length=512),
    }

    def add(session: Session) -> Reply:
        row = create_record(
            session,
            system=SYSTEM.name,
            kind=CUSTOMER,
            prefix="cus_",
            status="active",
            external_ref=meta.get("crm_account_id"),
            data={**fields, "metadata": meta},
            keys=_meta_keys(meta),
        )
        return Reply(200, customer_view(row), row)

    return call.create(add)


@router.get("/v1/customers/search")
def search_customers(call: Call, query: str | None = None) -> dict[str, Any]:
    wanted = metadata_search(query)
    return call.run(lambda s: _search(s, CUSTOMER, wanted, customer_view, "/v1/customers/search"))


@router.get("/v1/customers/{customer_id}")
def get_customer(customer_id: str, call: Call) -> dict[str, Any]:
    return call.run(lambda s: customer_view(_require(s, CUSTOMER, customer_id)))


def _search(
    session: Session,
    kind: str,
    wanted: dict[str, str],
    view: Callable[[RecordRow], dict[str, Any]],
    url: str,
) -> dict[str, Any]:
    rows = [
        r
        for r in find_records(session, SYSTEM.name, kind, keys=_meta_keys(wanted))
        if r.status != "deleted"
    ]
    return {
        "object": "search_result",
        "url": url,
        "data": [view(r) for r in rows],
        "has_more": False,
    }


def _require(session: Session, kind: str, record_id: str) -> RecordRow:
    row = get_record(session, SYSTEM.name, kind, record_id)
    if row is None or row.status == "deleted":
        raise missing(kind, record_id)
    return row


# ----- tax rates --------------------------------------------------------------------------


def tax_rate_view(row: RecordRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "tax_rate",
        "created": unix(row.created_at),
        "livemode": False,
        **row.data,
    }


@router.post("/v1/tax_rates")
async def create_tax_rate(request: Request, call: Call) -> JSONResponse:
    params = await form_of(request)
    percentage = text(params, "percentage", required=True, max_length=20) or ""
    try:
        value = Decimal(percentage)
    except ArithmeticError:
        raise invalid("Invalid decimal: percentage", "percentage") from None
    if not Decimal(0) <= value <= Decimal(100) or value != value.quantize(Decimal("0.01")):
        raise invalid(
            "percentage must be between 0 and 100, with at most two decimals", "percentage"
        )
    data = {
        "display_name": text(params, "display_name", required=True, max_length=50),
        "percentage": float(value),
        "inclusive": boolean(params, "inclusive", False) if "inclusive" in params else None,
        "active": boolean(params, "active", True),
        "metadata": metadata(params),
    }
    if data["inclusive"] is None:
        raise invalid("Missing required param: inclusive.", "inclusive", "parameter_missing")

    def add(session: Session) -> Reply:
        row = create_record(
            session, system=SYSTEM.name, kind=TAX_RATE, prefix="txr_", status="active", data=data
        )
        return Reply(200, tax_rate_view(row), row)

    return call.create(add)


@router.get("/v1/tax_rates")
async def list_tax_rates(request: Request, call: Call) -> dict[str, Any]:
    params = parse(request.url.query)
    active = boolean(params, "active", True) if "active" in params else None

    def query(session: Session) -> dict[str, Any]:
        rows = find_records(session, SYSTEM.name, TAX_RATE)
        rows = [r for r in rows if active is None or r.data["active"] == active]
        return _page(rows, params, tax_rate_view, "/v1/tax_rates")

    return call.run(query)


# ----- invoices ---------------------------------------------------------------------------


def invoice_view(row: RecordRow) -> dict[str, Any]:
    data = row.data
    due_cents = data["total_cents"] - data["amount_paid_cents"]
    open_or_paid = row.status in ("open", "paid")
    return {
        "id": row.id,
        "object": "invoice",
        "status": row.status,
        "number": data["stripe_number"],
        "customer": data["customer_id"],
        "currency": data["currency"].lower(),
        "collection_method": data["collection_method"],
        "auto_advance": data["auto_advance"],
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": line["id"],
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
        "days_until_due": data["days_until_due"],
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
        customer = _require(session, CUSTOMER, customer_id)
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
            keys={"number": number, "customer_id": customer.id, **_meta_keys(meta)},
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
    if not unit.isdigit() or len(unit) > 15:
        raise invalid("the sandbox takes unit_amount_decimal in whole cents", "unit_amount_decimal")
    rate_ids = params.get("tax_rates") or []
    if not isinstance(rate_ids, list) or not all(isinstance(r, str) for r in rate_ids):
        raise invalid("tax_rates must be a list of tax rate ids", "tax_rates")
    description = text(params, "description", max_length=500) or ""
    currency = text(params, "currency", max_length=3)

    def add(session: Session) -> Reply:
        invoice = _require(session, INVOICE, invoice_id)
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
        percentages = [_require(session, TAX_RATE, r).data["percentage"] for r in rate_ids]
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
    return call.run(lambda s: _search(s, INVOICE, wanted, invoice_view, "/v1/invoices/search"))


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

    def within(row: RecordRow) -> bool:
        at = unix(row.created_at) or 0
        checks = {
            "gt": lambda b: at > b,
            "gte": lambda b: at >= b,
            "lt": lambda b: at < b,
            "lte": lambda b: at <= b,
            "eq": lambda b: at == b,
        }
        return all(bound is None or checks[op](bound) for op, bound in bounds.items())

    def query(session: Session) -> dict[str, Any]:
        rows = [
            r
            for r in find_records(session, SYSTEM.name, INVOICE, status=status)
            if r.status != "deleted"
            and (customer is None or r.data["customer_id"] == customer)
            and within(r)
        ]
        return _page(rows, params, invoice_view, "/v1/invoices")

    return call.run(query)


def _page(
    rows: list[RecordRow],
    params: dict[str, Any],
    view: Callable[[RecordRow], dict[str, Any]],
    url: str,
) -> dict[str, Any]:
    """A list page, newest first, after ``starting_after``."""
    limit = integer(params, "limit", minimum=1, default=10) or 10
    if limit > 100:
        raise invalid("limit must be at most 100", "limit")
    newest = sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)
    after = text(params, "starting_after")
    if after is not None:
        ids = [r.id for r in newest]
        if after not in ids:
            raise invalid(
                f"No such object for starting_after: '{after}'",
                "starting_after",
                "resource_missing",
            )
        newest = newest[ids.index(after) + 1 :]
    return {
        "object": "list",
        "url": url,
        "data": [view(r) for r in newest[:limit]],
        "has_more": len(newest) > limit,
    }


@router.get("/v1/invoices/{invoice_id}")
def get_invoice(invoice_id: str, call: Call) -> dict[str, Any]:
    return call.run(lambda s: invoice_view(_require(s, INVOICE, invoice_id)))


@router.delete("/v1/invoices/{invoice_id}")
def delete_invoice(invoice_id: str, call: Call) -> dict[str, Any]:
    """Only a draft can be deleted (a finalized invoice is voided instead)."""

    def delete(session: Session) -> dict[str, Any]:
        row = _require(session, INVOICE, invoice_id)
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
        row = _require(session, INVOICE, invoice_id)
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
        due = finalized.timestamp() + row.data["days_until_due"] * 86_400
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
        row = _require(session, INVOICE, invoice_id)
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
