"""ERP: vendor validation and creation rules, deactivation, and the approved supplier list."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.sandbox.conftest import actions, error_of
from tests.sandbox.factories import vendor, vendor_terms

VENDOR_FIELDS = {
    "id",
    "external_ref",
    "status",
    "legal_name",
    "tax_id",
    "country",
    "vendor_type",
    "payment_terms",
    "contact_email",
    "created_at",
}


def create_vendor(
    erp: httpx.Client, external_ref: str = "APP-1", **overrides: object
) -> dict[str, Any]:
    response = erp.post("/erp/vendors", json=vendor(external_ref, **overrides))
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_validate_accepts_a_new_vendor(erp: httpx.Client) -> None:
    response = erp.post("/erp/vendors/validate", json=vendor_terms())
    assert response.status_code == 200
    assert response.json() == {"valid": True}


ALLOWED = {
    "supplier": {"net30", "net60"},
    "contractor": {"immediate", "net15", "net30"},
    "service_provider": {"net15", "net30", "net60"},
}


@pytest.mark.parametrize("vendor_type", sorted(ALLOWED))
@pytest.mark.parametrize("payment_terms", ["immediate", "net15", "net30", "net60"])
def test_payment_terms_per_vendor_type(
    erp: httpx.Client, vendor_type: str, payment_terms: str
) -> None:
    terms = vendor_terms(vendor_type=vendor_type, payment_terms=payment_terms)
    response = erp.post("/erp/vendors/validate", json=terms)
    if payment_terms in ALLOWED[vendor_type]:
        assert response.status_code == 200
    else:
        assert response.status_code == 422
        assert error_of(response)["code"] == "INVALID_PAYMENT_TERMS"


def test_create_answers_the_vendor_without_its_bank_account(
    erp: httpx.Client, admin: httpx.Client
) -> None:
    created = create_vendor(erp)
    assert set(created) == VENDOR_FIELDS
    assert created["id"] == "V-000001"
    assert created["status"] == "active"
    assert created["external_ref"] == "APP-1"
    assert create_vendor(erp, "APP-2", tax_id="DE999")["id"] == "V-000002"
    record = admin.get("/_admin/ledger").json()["records"][0]
    assert record["data"]["bank_account"]["iban"] == "DE89370400440532013000"


def test_create_refuses_invalid_terms(erp: httpx.Client) -> None:
    response = erp.post("/erp/vendors", json=vendor(vendor_type="supplier", payment_terms="net15"))
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "INVALID_PAYMENT_TERMS"
    assert "net30" in error["message"]


def test_duplicate_tax_id_in_the_same_country(erp: httpx.Client) -> None:
    first = create_vendor(erp)
    validate = erp.post("/erp/vendors/validate", json=vendor_terms())
    create = erp.post("/erp/vendors", json=vendor("APP-2"))
    for response in (validate, create):
        assert response.status_code == 422
        error = error_of(response)
        assert error["code"] == "DUPLICATE_TAX_ID"
        assert first["id"] in error["message"]
    assert create_vendor(erp, "APP-3", country="AT")["country"] == "AT"


def test_duplicate_external_ref(erp: httpx.Client) -> None:
    create_vendor(erp)
    response = erp.post("/erp/vendors", json=vendor(tax_id="DE999"))
    assert response.status_code == 422
    assert error_of(response)["code"] == "DUPLICATE_EXTERNAL_REF"


def test_get_and_find_by_external_ref(erp: httpx.Client) -> None:
    created = create_vendor(erp)
    create_vendor(erp, "APP-2", tax_id="DE999")
    assert erp.get(f"/erp/vendors/{created['id']}").json() == created
    found = erp.get("/erp/vendors", params={"external_ref": "APP-1"}).json()
    assert found == {"vendors": [created]}
    assert erp.get("/erp/vendors", params={"external_ref": "nope"}).json() == {"vendors": []}


def test_deactivate_is_idempotent_and_frees_the_tax_id(
    erp: httpx.Client, admin: httpx.Client
) -> None:
    created = create_vendor(erp)
    first = erp.post(f"/erp/vendors/{created['id']}/deactivate")
    again = erp.post(f"/erp/vendors/{created['id']}/deactivate")
    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == again.json()["status"] == "inactive"
    assert actions(admin, "erp") == ["created", "deactivated"]
    assert erp.post("/erp/vendors/validate", json=vendor_terms()).status_code == 200
    replacement = create_vendor(erp)  # the external_ref is free again too
    assert replacement["id"] == "V-000002"


def test_deactivate_unknown_vendor_is_404(erp: httpx.Client) -> None:
    response = erp.post("/erp/vendors/V-424242/deactivate")
    assert response.status_code == 404
    assert error_of(response)["code"] == "NOT_FOUND"


def test_approved_supplier_list(erp: httpx.Client, admin: httpx.Client) -> None:
    vendor_id = create_vendor(erp)["id"]
    listed = erp.post("/erp/approved-suppliers", json={"vendor_id": vendor_id})
    assert listed.status_code == 201
    entry = listed.json()
    assert entry["id"] == "ASL-000001"
    assert entry["vendor_id"] == vendor_id
    assert entry["status"] == "listed"
    again = erp.post("/erp/approved-suppliers", json={"vendor_id": vendor_id})
    assert again.status_code == 200
    assert again.json()["id"] == entry["id"]
    assert erp.get("/erp/approved-suppliers").json()["entries"] == [entry]

    removed = erp.delete(f"/erp/approved-suppliers/{vendor_id}")
    removed_again = erp.delete(f"/erp/approved-suppliers/{vendor_id}")
    assert removed.status_code == removed_again.status_code == 200
    assert removed.json()["status"] == removed_again.json()["status"] == "removed"
    assert removed_again.json()["id"] == entry["id"]
    assert actions(admin, "erp") == ["created", "created", "removed"]

    relisted = erp.post("/erp/approved-suppliers", json={"vendor_id": vendor_id})
    assert relisted.status_code == 201
    assert relisted.json()["id"] == "ASL-000002"
    listed_now = erp.get("/erp/approved-suppliers", params={"status": "listed"}).json()
    assert [row["id"] for row in listed_now["entries"]] == ["ASL-000002"]


def test_approved_supplier_list_refuses_unknown_and_inactive_vendors(erp: httpx.Client) -> None:
    unknown = erp.post("/erp/approved-suppliers", json={"vendor_id": "V-424242"})
    assert unknown.status_code == 404
    assert error_of(unknown)["code"] == "NOT_FOUND"
    vendor_id = create_vendor(erp)["id"]
    erp.post(f"/erp/vendors/{vendor_id}/deactivate").raise_for_status()
    inactive = erp.post("/erp/approved-suppliers", json={"vendor_id": vendor_id})
    assert inactive.status_code == 422
    assert error_of(inactive)["code"] == "VENDOR_INACTIVE"
    never_listed = erp.delete(f"/erp/approved-suppliers/{vendor_id}")
    assert never_listed.status_code == 404
