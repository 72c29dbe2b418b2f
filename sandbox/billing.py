"""Billing stand-in (``/billing``): a stateful emulation of the subset of Stripe's API the
billing activities use, so everything runs offline on the same requests real Stripe gets.

``/billing/v1/customers`` (+ ``/search``), ``/v1/tax_rates``, ``/v1/invoiceitems`` and
``/v1/invoices`` (+ ``/search``, ``/{id}``, ``/finalize``, ``/void``, ``DELETE``): form-encoded
bodies, ``cus_``/``txr_``/``ii_``/``in_`` ids, Stripe's statuses (an invoice is ``draft`` →
``open`` → ``paid``, or ``void``; a deleted draft is gone), list pages (``limit``,
``starting_after``, ``created``/``status``/``customer`` filters), Stripe's error shape and
``Idempotency-Key`` semantics (same key and body: the first answer again; another body: a 400
``idempotency_error``). Customers and tax rates are here, invoices and their items in
``billing_invoices.py``; payments come in through the admin API (``billing_payments.py``) and
emit Stripe events.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import and_, or_
from sqlalchemy.orm import Session

from sandbox.auth import BearerKey
from sandbox.db import RecordRow
from sandbox.errors import ApiError
from sandbox.idempotency import Reply
from sandbox.records import (
    create_record,
    find_records,
    get_record,
    records_query,
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


def meta_keys(meta: dict[str, str]) -> dict[str, str]:
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
        "metadata": data.get("metadata", {}),
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
            keys=meta_keys(meta),
        )
        return Reply(200, customer_view(row), row)

    return call.create(add)


@router.get("/v1/customers/search")
def search_customers(call: Call, query: str | None = None) -> dict[str, Any]:
    wanted = metadata_search(query)
    return call.run(lambda s: search(s, CUSTOMER, wanted, customer_view, "/v1/customers/search"))


@router.get("/v1/customers/{customer_id}")
def get_customer(customer_id: str, call: Call) -> dict[str, Any]:
    return call.run(lambda s: customer_view(require(s, CUSTOMER, customer_id)))


def search(
    session: Session,
    kind: str,
    wanted: dict[str, str],
    view: Callable[[RecordRow], dict[str, Any]],
    url: str,
) -> dict[str, Any]:
    rows = [
        r
        for r in find_records(session, SYSTEM.name, kind, keys=meta_keys(wanted))
        if r.status != "deleted"
    ]
    return {
        "object": "search_result",
        "url": url,
        "data": [view(r) for r in rows],
        "has_more": False,
    }


def require(session: Session, kind: str, record_id: str) -> RecordRow:
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
        return page(rows, params, tax_rate_view, "/v1/tax_rates")

    return call.run(query)


def page_limit(params: dict[str, Any]) -> int:
    limit = integer(params, "limit", minimum=1, default=10) or 10
    if limit > 100:
        raise invalid("limit must be at most 100", "limit")
    return limit


def no_such_anchor(after: str) -> ApiError:
    return invalid(
        f"No such object for starting_after: '{after}'", "starting_after", "resource_missing"
    )


def created_stamp(moment: int) -> str:
    """A unix time as the store writes `created_at` (fixed width, so strings sort as times)."""
    return (
        datetime.fromtimestamp(moment, UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z")
    )


def record_page(
    session: Session,
    kind: str,
    params: dict[str, Any],
    view: Callable[[RecordRow], dict[str, Any]],
    url: str,
    *,
    status: str | None = None,
    keys: dict[str, str] | None = None,
    created: dict[str, int | None] | None = None,
    hidden: tuple[str, ...] = ("deleted",),
) -> dict[str, Any]:
    """A list page of one kind straight from SQL, newest first, after ``starting_after``: the
    page of a day of 100,000 invoices costs what the first page costs (`limit` + 1 rows read
    by index, never the whole list)."""
    limit = page_limit(params)
    query = records_query(SYSTEM.name, kind, status=status, keys=keys)
    query = query.where(RecordRow.status.not_in(hidden))
    # Whole seconds, as Stripe compares them: `gt b` is from b + 1 on, `lte b` before b + 1.
    lower = {"gt": 1, "gte": 0, "eq": 0}
    upper = {"lt": 0, "lte": 1, "eq": 1}
    for op, bound in (created or {}).items():
        if bound is None:
            continue
        if op in lower:
            query = query.where(RecordRow.created_at >= created_stamp(bound + lower[op]))
        if op in upper:
            query = query.where(RecordRow.created_at < created_stamp(bound + upper[op]))
    after = text(params, "starting_after")
    if after is not None:
        anchor = session.get(RecordRow, (SYSTEM.name, after))
        if anchor is None or anchor.kind != kind:
            raise no_such_anchor(after)
        query = query.where(
            or_(
                RecordRow.created_at < anchor.created_at,
                and_(RecordRow.created_at == anchor.created_at, RecordRow.id < anchor.id),
            )
        )
    newest = query.order_by(RecordRow.created_at.desc(), RecordRow.id.desc()).limit(limit + 1)
    rows = list(session.scalars(newest))
    return {
        "object": "list",
        "url": url,
        "data": [view(r) for r in rows[:limit]],
        "has_more": len(rows) > limit,
    }


def page(
    rows: list[RecordRow],
    params: dict[str, Any],
    view: Callable[[RecordRow], dict[str, Any]],
    url: str,
) -> dict[str, Any]:
    """A list page of `rows` (a short list read whole), newest first, after ``starting_after``."""
    limit = page_limit(params)
    newest = sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)
    after = text(params, "starting_after")
    if after is not None:
        ids = [r.id for r in newest]
        if after not in ids:
            raise no_such_anchor(after)
        newest = newest[ids.index(after) + 1 :]
    return {
        "object": "list",
        "url": url,
        "data": [view(r) for r in newest[:limit]],
        "has_more": len(newest) > limit,
    }
