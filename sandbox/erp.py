"""ERP stand-in (``/erp``, HTTP Basic): the vendor master and the approved supplier list.

Rules: one active vendor per tax id and country (``DUPLICATE_TAX_ID``), one active vendor per
``external_ref`` (``DUPLICATE_EXTERNAL_REF``), payment terms allowed per vendor type
(``INVALID_PAYMENT_TERMS``), only active vendors can be listed (``VENDOR_INACTIVE``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from sandbox.auth import BasicAuth
from sandbox.db import RecordRow
from sandbox.errors import ApiError, not_found
from sandbox.idempotency import Reply
from sandbox.records import change_status, create_record, find_records, require_record
from sandbox.system import System, SystemCall

SYSTEM = System("erp", BasicAuth())
router = SYSTEM.router
Call = Annotated[SystemCall, Depends(SYSTEM.call)]

VENDOR = "vendor"
SUPPLIER_ENTRY = "approved_supplier"

VendorType = Literal["supplier", "contractor", "service_provider"]
PaymentTerms = Literal["immediate", "net15", "net30", "net60"]

ALLOWED_TERMS: dict[str, tuple[str, ...]] = {
    "supplier": ("net30", "net60"),
    "contractor": ("immediate", "net15", "net30"),
    "service_provider": ("net15", "net30", "net60"),
}


class VendorTerms(BaseModel):
    """The fields ``/vendors/validate`` checks before a vendor is created."""

    tax_id: str = Field(min_length=1, max_length=64)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, upper case")
    vendor_type: VendorType
    payment_terms: PaymentTerms


class BankAccount(BaseModel):
    iban: str = Field(min_length=1, max_length=64)
    bic: str = Field(min_length=1, max_length=16)


class NewVendor(VendorTerms):
    external_ref: str = Field(min_length=1, max_length=255)
    legal_name: str = Field(min_length=1, max_length=255)
    contact_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)
    bank_account: BankAccount


class NewSupplierEntry(BaseModel):
    vendor_id: str = Field(min_length=1, max_length=64)


def vendor_view(row: RecordRow) -> dict[str, Any]:
    """A vendor as the API shows it: never the bank account."""
    return {
        "id": row.id,
        "external_ref": row.external_ref,
        "status": row.status,
        "legal_name": row.data["legal_name"],
        "tax_id": row.data["tax_id"],
        "country": row.data["country"],
        "vendor_type": row.data["vendor_type"],
        "payment_terms": row.data["payment_terms"],
        "contact_email": row.data["contact_email"],
        "created_at": row.created_at,
    }


def entry_view(row: RecordRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "vendor_id": row.data["vendor_id"],
        "status": row.status,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _check_terms(terms: VendorTerms) -> None:
    allowed = ALLOWED_TERMS[terms.vendor_type]
    if terms.payment_terms not in allowed:
        raise ApiError(
            422,
            "INVALID_PAYMENT_TERMS",
            f"payment_terms {terms.payment_terms!r} are not allowed for vendor_type "
            f"{terms.vendor_type!r}; allowed: {', '.join(allowed)}",
        )


def _check_tax_id_free(session: Session, terms: VendorTerms) -> None:
    holders = find_records(
        session,
        SYSTEM.name,
        VENDOR,
        status="active",
        keys={"tax_id": terms.tax_id, "country": terms.country},
    )
    if holders:
        raise ApiError(
            422,
            "DUPLICATE_TAX_ID",
            f"active vendor {holders[0].id} already has tax_id {terms.tax_id!r} in {terms.country}",
        )


def _register_vendor(session: Session, vendor: NewVendor) -> Reply:
    _check_terms(vendor)
    same_ref = find_records(
        session, SYSTEM.name, VENDOR, status="active", external_ref=vendor.external_ref
    )
    if same_ref:
        raise ApiError(
            422,
            "DUPLICATE_EXTERNAL_REF",
            f"active vendor {same_ref[0].id} already has external_ref {vendor.external_ref!r}",
        )
    _check_tax_id_free(session, vendor)
    row = create_record(
        session,
        system=SYSTEM.name,
        kind=VENDOR,
        prefix="V",
        status="active",
        external_ref=vendor.external_ref,
        data=vendor.model_dump(exclude={"external_ref"}),
        keys={"tax_id": vendor.tax_id, "country": vendor.country},
    )
    return Reply(201, vendor_view(row), row)


@router.post("/vendors/validate")
def validate_vendor(terms: VendorTerms, call: Call) -> dict[str, Any]:
    def check(session: Session) -> dict[str, Any]:
        _check_terms(terms)
        _check_tax_id_free(session, terms)
        return {"valid": True}

    return call.run(check)


@router.post("/vendors", status_code=201)
def create_vendor(vendor: NewVendor, call: Call) -> JSONResponse:
    return call.create(lambda session: _register_vendor(session, vendor))


@router.get("/vendors")
def list_vendors(
    call: Call, external_ref: str | None = None, status: str | None = None
) -> dict[str, Any]:
    def query(session: Session) -> dict[str, Any]:
        rows = find_records(session, SYSTEM.name, VENDOR, status=status, external_ref=external_ref)
        return {"vendors": [vendor_view(row) for row in rows]}

    return call.run(query)


@router.get("/vendors/{vendor_id}")
def get_vendor(vendor_id: str, call: Call) -> dict[str, Any]:
    return call.run(
        lambda session: vendor_view(
            require_record(session, SYSTEM.name, VENDOR, vendor_id, "vendor")
        )
    )


@router.post("/vendors/{vendor_id}/deactivate")
def deactivate_vendor(vendor_id: str, call: Call) -> dict[str, Any]:
    def deactivate(session: Session) -> dict[str, Any]:
        row = require_record(session, SYSTEM.name, VENDOR, vendor_id, "vendor")
        return vendor_view(change_status(session, row, "inactive", "deactivated"))

    return call.run(deactivate)


def _list_supplier(session: Session, entry: NewSupplierEntry) -> Reply:
    vendor = require_record(session, SYSTEM.name, VENDOR, entry.vendor_id, "vendor")
    if vendor.status != "active":
        raise ApiError(
            422,
            "VENDOR_INACTIVE",
            f"vendor {vendor.id} is {vendor.status}; only active vendors can be listed",
        )
    listed = find_records(
        session, SYSTEM.name, SUPPLIER_ENTRY, status="listed", keys={"vendor_id": vendor.id}
    )
    if listed:
        return Reply(200, entry_view(listed[0]), listed[0])
    row = create_record(
        session,
        system=SYSTEM.name,
        kind=SUPPLIER_ENTRY,
        prefix="ASL",
        status="listed",
        data={"vendor_id": vendor.id},
        keys={"vendor_id": vendor.id},
    )
    return Reply(201, entry_view(row), row)


@router.post("/approved-suppliers", status_code=201)
def add_approved_supplier(entry: NewSupplierEntry, call: Call) -> JSONResponse:
    return call.create(lambda session: _list_supplier(session, entry))


@router.get("/approved-suppliers")
def list_approved_suppliers(
    call: Call, status: str | None = None, vendor_id: str | None = None
) -> dict[str, Any]:
    keys = {} if vendor_id is None else {"vendor_id": vendor_id}

    def query(session: Session) -> dict[str, Any]:
        rows = find_records(session, SYSTEM.name, SUPPLIER_ENTRY, status=status, keys=keys)
        return {"entries": [entry_view(row) for row in rows]}

    return call.run(query)


@router.delete("/approved-suppliers/{vendor_id}")
def remove_approved_supplier(vendor_id: str, call: Call) -> dict[str, Any]:
    def remove(session: Session) -> dict[str, Any]:
        entries = find_records(session, SYSTEM.name, SUPPLIER_ENTRY, keys={"vendor_id": vendor_id})
        if not entries:
            raise not_found(f"approved supplier entry for vendor {vendor_id!r}")
        listed = [row for row in entries if row.status == "listed"]
        # Removing twice answers the last removed entry, unchanged.
        entry = listed[0] if listed else entries[-1]
        return entry_view(change_status(session, entry, "removed", "removed"))

    return call.run(remove)
