"""Portal: account creation, lookups and soft deletion."""

from __future__ import annotations

import httpx

from tests.sandbox.conftest import actions, error_of
from tests.sandbox.factories import portal_account


def test_create_get_and_find(portal: httpx.Client) -> None:
    response = portal.post("/portal/accounts", json=portal_account())
    assert response.status_code == 201
    account = response.json()
    assert account["id"] == "PA-000001"
    assert account["external_ref"] == "APP-1"
    assert account["vendor_id"] == "V-000001"
    assert account["status"] == "active"
    assert account["login_url"].endswith("/PA-000001")
    assert portal.get("/portal/accounts/PA-000001").json() == account
    found = portal.get("/portal/accounts", params={"external_ref": "APP-1"}).json()
    assert found == {"accounts": [account]}


def test_duplicate_active_account(portal: httpx.Client) -> None:
    portal.post("/portal/accounts", json=portal_account()).raise_for_status()
    response = portal.post("/portal/accounts", json=portal_account(display_name="Other"))
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "DUPLICATE_ACCOUNT"
    assert "PA-000001" in error["message"]


def test_delete_is_soft_and_idempotent(portal: httpx.Client, admin: httpx.Client) -> None:
    portal.post("/portal/accounts", json=portal_account()).raise_for_status()
    first = portal.delete("/portal/accounts/PA-000001")
    again = portal.delete("/portal/accounts/PA-000001")
    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == again.json()["status"] == "deleted"
    assert portal.get("/portal/accounts/PA-000001").json()["status"] == "deleted"
    assert actions(admin, "portal") == ["created", "deleted"]
    record = admin.get("/_admin/ledger", params={"system": "portal"}).json()["records"][0]
    assert record["status"] == "deleted"
    # The external_ref is free for a new account once the old one is deleted.
    reopened = portal.post("/portal/accounts", json=portal_account())
    assert reopened.status_code == 201
    assert reopened.json()["id"] == "PA-000002"


def test_unknown_account_is_404(portal: httpx.Client) -> None:
    for response in (portal.get("/portal/accounts/PA-9"), portal.delete("/portal/accounts/PA-9")):
        assert response.status_code == 404
        assert error_of(response)["code"] == "NOT_FOUND"
