"""The ledger: every record of every system and the ordered event log, with filters."""

from __future__ import annotations

import httpx

from tests.sandbox.conftest import error_of
from tests.sandbox.factories import portal_account, vendor

RECORD_FIELDS = {
    "system",
    "kind",
    "id",
    "external_ref",
    "status",
    "data",
    "created_at",
    "updated_at",
}
EVENT_FIELDS = {"seq", "at", "system", "kind", "record_id", "action", "detail"}


def onboard(erp: httpx.Client, portal: httpx.Client) -> None:
    vendor_id = erp.post("/erp/vendors", json=vendor()).json()["id"]
    erp.post("/erp/approved-suppliers", json={"vendor_id": vendor_id}).raise_for_status()
    portal.post(
        "/portal/accounts",
        json=portal_account(vendor_id=vendor_id),
        headers={"Idempotency-Key": "account-APP-1"},
    ).raise_for_status()
    portal.delete("/portal/accounts/PA-000001").raise_for_status()
    erp.delete(f"/erp/approved-suppliers/{vendor_id}").raise_for_status()
    erp.post(f"/erp/vendors/{vendor_id}/deactivate").raise_for_status()


def test_ledger_holds_every_record_and_event_in_order(
    admin: httpx.Client, erp: httpx.Client, portal: httpx.Client
) -> None:
    onboard(erp, portal)
    ledger = admin.get("/_admin/ledger").json()
    records = {(record["system"], record["id"]): record for record in ledger["records"]}
    assert all(set(record) == RECORD_FIELDS for record in ledger["records"])
    assert {key: record["status"] for key, record in records.items()} == {
        ("erp", "V-000001"): "inactive",
        ("erp", "ASL-000001"): "removed",
        ("portal", "PA-000001"): "deleted",
    }
    assert records[("erp", "V-000001")]["kind"] == "vendor"
    assert records[("erp", "V-000001")]["external_ref"] == "APP-1"
    assert records[("portal", "PA-000001")]["data"]["vendor_id"] == "V-000001"

    assert all(set(event) == EVENT_FIELDS for event in ledger["events"])
    seqs = [event["seq"] for event in ledger["events"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert [(e["system"], e["record_id"], e["action"]) for e in ledger["events"]] == [
        ("erp", "V-000001", "created"),
        ("erp", "ASL-000001", "created"),
        ("portal", "PA-000001", "created"),
        ("portal", "PA-000001", "deleted"),
        ("erp", "ASL-000001", "removed"),
        ("erp", "V-000001", "deactivated"),
    ]
    deactivated = ledger["events"][-1]
    assert deactivated["detail"] == {"from": "active", "to": "inactive"}


def test_ledger_filters_by_system_and_sequence(
    admin: httpx.Client, erp: httpx.Client, portal: httpx.Client
) -> None:
    onboard(erp, portal)
    portal_only = admin.get("/_admin/ledger", params={"system": "portal"}).json()
    assert {record["system"] for record in portal_only["records"]} == {"portal"}
    assert [event["action"] for event in portal_only["events"]] == ["created", "deleted"]
    all_events = admin.get("/_admin/ledger").json()["events"]
    since = all_events[-3]["seq"]
    later = admin.get("/_admin/ledger", params={"after_seq": since}).json()["events"]
    assert later == all_events[-2:]


def test_ledger_refuses_an_unknown_system(admin: httpx.Client) -> None:
    response = admin.get("/_admin/ledger", params={"system": "nowhere"})
    assert response.status_code == 422
    assert error_of(response)["code"] == "VALIDATION_ERROR"


def test_rejections_are_logged_without_a_record(admin: httpx.Client, erp: httpx.Client) -> None:
    erp.post("/erp/vendors", json=vendor(payment_terms="immediate"))
    [event] = admin.get("/_admin/ledger").json()["events"]
    assert event["action"] == "rejected"
    assert event["record_id"] is None
    assert event["detail"]["code"] == "INVALID_PAYMENT_TERMS"


def test_reset_forgets_data_but_keeps_credentials(
    admin: httpx.Client, erp: httpx.Client, portal: httpx.Client
) -> None:
    onboard(erp, portal)
    admin.post("/_admin/reset").raise_for_status()
    assert admin.get("/_admin/ledger").json() == {"records": [], "events": []}
    assert erp.get("/erp/vendors").json() == {"vendors": []}
    # Idempotency keys are gone too: the same key now opens a new account.
    again = portal.post(
        "/portal/accounts", json=portal_account(), headers={"Idempotency-Key": "account-APP-1"}
    )
    assert again.status_code == 201
    assert "idempotent-replayed" not in again.headers
    assert again.json()["id"] == "PA-000001"
