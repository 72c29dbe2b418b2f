"""Behaviour shared by every system: the JSON error shape and the admin API's own guard."""

from __future__ import annotations

import httpx
import pytest

from tests.sandbox.conftest import SandboxProcess, client, error_of
from tests.sandbox.factories import vendor


def test_health_needs_no_admin_token(sandbox: SandboxProcess) -> None:
    with client(sandbox.base_url) as anonymous:
        response = anonymous.get("/_admin/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_admin/ledger"),
        ("GET", "/_admin/faults"),
        ("POST", "/_admin/reset"),
        ("DELETE", "/_admin/faults"),
        ("PUT", "/_admin/credentials/erp"),
        ("PUT", "/_admin/faults/erp"),
        ("PUT", "/_admin/webhooks/billing"),
        ("GET", "/_admin/webhooks/events"),
        ("POST", "/_admin/billing/invoices/2026-1/payments"),
        ("POST", "/_admin/esign/envelopes/ENV-000001/sign"),
        ("PUT", "/_admin/crm/token-lifetime"),
        ("POST", "/_admin/crm/expire-tokens"),
        ("PUT", "/_admin/enrichment/rate-limit"),
    ],
)
@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_admin_routes_need_the_admin_token(
    sandbox: SandboxProcess, admin: httpx.Client, method: str, path: str, token: str | None
) -> None:
    headers = {} if token is None else {"X-Admin-Token": token}
    with client(sandbox.base_url, headers=headers) as outsider:
        response = outsider.request(method, path, json={"api_keys": ["stolen"]})
    assert response.status_code == 401
    assert error_of(response)["code"] == "UNAUTHORIZED"
    # Nothing changed: the standard ERP credentials still work.
    assert admin.get("/_admin/ledger").status_code == 200


def test_unknown_route_is_a_json_404(anonymous: httpx.Client) -> None:
    for path in ("/no-such-system", "/erp/no-such-thing", "/_admin/nothing-here"):
        response = anonymous.get(path)
        assert response.status_code == 404
        assert error_of(response)["code"] == "NOT_FOUND"


def test_wrong_method_is_a_json_405(erp: httpx.Client) -> None:
    response = erp.put("/erp/vendors/validate", json={})
    assert response.status_code == 405
    assert error_of(response)["code"] == "METHOD_NOT_ALLOWED"
    assert "POST" in response.headers["allow"]


def test_request_validation_is_a_json_422_naming_the_fields(erp: httpx.Client) -> None:
    body = vendor(payment_terms="net90")
    del body["tax_id"]
    response = erp.post("/erp/vendors", json=body)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert "body.tax_id" in error["message"]
    assert "body.payment_terms" in error["message"]


def test_invalid_json_is_a_json_422(erp: httpx.Client) -> None:
    response = erp.post(
        "/erp/vendors", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert error_of(response) == {
        "code": "VALIDATION_ERROR",
        "message": "request body is not valid JSON",
    }


def test_unknown_record_is_a_json_404(erp: httpx.Client) -> None:
    response = erp.get("/erp/vendors/V-999999")
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "NOT_FOUND"
    assert "V-999999" in error["message"]


def test_credentials_for_an_unknown_system_are_refused(admin: httpx.Client) -> None:
    response = admin.put("/_admin/credentials/nowhere", json={"api_keys": ["k"]})
    assert response.status_code == 422
    assert "system" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("system", "body", "field"),
    [
        ("erp", {"username": "u"}, "body.password"),
        ("portal", {"api_keys": []}, "body.api_keys"),
        ("enrichment", {"api_keys": [""]}, "body.api_keys[0]"),
        ("esign", {"keys": ["k"]}, "body.keys"),
    ],
)
def test_malformed_credentials_are_refused(
    admin: httpx.Client, system: str, body: dict[str, object], field: str
) -> None:
    response = admin.put(f"/_admin/credentials/{system}", json=body)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["message"]
