"""A restart on the same database keeps records, credentials, keys, ledger, tokens, settings."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.sandbox.conftest import (
    ADMIN_TOKEN,
    BILLING_KEY,
    ERP_PASSWORD,
    ERP_USER,
    ESIGN_KEY,
    PORTAL_KEY,
    SandboxProcess,
    client,
    crm_token,
    free_port,
    seed_credentials,
)
from tests.sandbox.factories import envelope, portal_account, vendor
from tests.sandbox.receiver import WebhookReceiver


def test_a_restart_keeps_everything(tmp_path: Path, fresh_database_url: str) -> None:
    process = SandboxProcess(fresh_database_url, tmp_path / "sandbox.log")
    admin_headers = {"X-Admin-Token": ADMIN_TOKEN}
    portal_headers = {"X-Api-Key": PORTAL_KEY, "Idempotency-Key": "account-APP-1"}

    process.start()
    try:
        with client(process.base_url, headers=admin_headers) as admin:
            seed_credentials(admin)
            admin.put("/_admin/faults/erp", json={"latency_ms": 1}).raise_for_status()
        with client(process.base_url, auth=(ERP_USER, ERP_PASSWORD)) as erp:
            created = erp.post(
                "/erp/vendors", json=vendor(), headers={"Idempotency-Key": "vendor-APP-1"}
            ).json()
        with client(process.base_url, headers=portal_headers) as portal:
            opened = portal.post("/portal/accounts", json=portal_account()).json()
        with client(process.base_url, headers=admin_headers) as admin:
            before = admin.get("/_admin/ledger").json()
    finally:
        process.stop()

    process.start()
    try:
        with client(process.base_url, auth=(ERP_USER, ERP_PASSWORD)) as erp:
            assert erp.get(f"/erp/vendors/{created['id']}").json() == created
            replay = erp.post(
                "/erp/vendors", json=vendor(), headers={"Idempotency-Key": "vendor-APP-1"}
            )
            assert replay.status_code == 201
            assert replay.json() == created
            next_vendor = erp.post("/erp/vendors", json=vendor("APP-2", tax_id="DE999"))
            assert next_vendor.json()["id"] == "V-000002"
        with client(process.base_url, headers=portal_headers) as portal:
            assert portal.post("/portal/accounts", json=portal_account()).json() == opened
            assert len(portal.get("/portal/accounts").json()["accounts"]) == 1
        with client(process.base_url, headers=admin_headers) as admin:
            after = admin.get("/_admin/ledger").json()
            # Fault rules live in memory only.
            assert admin.get("/_admin/faults").json() == {"faults": {}}
    finally:
        process.stop()

    assert after["records"][: len(before["records"])] == before["records"]
    assert after["events"][: len(before["events"])] == before["events"]
    assert [event["action"] for event in after["events"][len(before["events"]) :]] == [
        "idempotent_replay",
        "created",
        "idempotent_replay",
    ]


def test_a_restart_keeps_the_new_systems_records_tokens_and_settings(
    tmp_path: Path, fresh_database_url: str
) -> None:
    process = SandboxProcess(fresh_database_url, tmp_path / "sandbox.log")
    admin_headers = {"X-Admin-Token": ADMIN_TOKEN}
    billing_headers = {"Authorization": f"Bearer {BILLING_KEY}"}

    process.start()
    try:
        with client(process.base_url, headers=admin_headers) as admin:
            seed_credentials(admin)
            admin.put("/_admin/crm/token-lifetime", json={"seconds": 600}).raise_for_status()
            admin.put(
                "/_admin/enrichment/rate-limit", json={"per_second": 50, "burst": 7}
            ).raise_for_status()
            # A target nobody listens on: the event stays undelivered, its attempts counted.
            admin.put(
                "/_admin/webhooks/billing",
                json={"url": f"http://127.0.0.1:{free_port()}/", "secret": "s", "max_attempts": 1},
            ).raise_for_status()
        with client(process.base_url) as anonymous:
            token = crm_token(anonymous)
            crm_headers = {"Authorization": f"Bearer {token}"}
            lead_body = {"email": "ada@acme.example", "form": {"seats": 4}}
            lead = anonymous.post("/crm/leads", json=lead_body, headers=crm_headers).json()
        with client(process.base_url, headers=billing_headers) as billing:
            cus = billing.post("/billing/v1/customers", data={"name": "Acme"}).json()["id"]
            draft = {**STRIPE_DRAFT, "customer": cus}
            invoice_headers = {"Idempotency-Key": "invoice-2026-0001"}
            created = billing.post("/billing/v1/invoices", data=draft, headers=invoice_headers)
            created = created.json()
            line = {"customer": cus, "invoice": created["id"], "unit_amount_decimal": "1000"}
            billing.post("/billing/v1/invoiceitems", data=line).raise_for_status()
            billing.post(
                f"/billing/v1/invoices/{created['id']}/finalize", data={}
            ).raise_for_status()
        with client(process.base_url, headers=admin_headers) as admin:
            admin.post(
                "/_admin/billing/invoices/2026-0001/payments",
                json={"amount_cents": 100, "payment_id": "bank-1"},
            ).raise_for_status()
            _wait_for_attempts(admin, 1)
            [event_before] = admin.get("/_admin/webhooks/events").json()["events"]
    finally:
        process.stop()

    process.start()
    try:
        with client(process.base_url, headers={"Authorization": f"Bearer {token}"}) as crm:
            # The token issued before the restart still works.
            assert crm.get(f"/crm/leads/{lead['id']}").json() == lead
            again = crm.post("/crm/leads", json={"email": "ADA@acme.example"})
            assert again.status_code == 200
        with client(process.base_url, headers=billing_headers) as billing:
            invoice_after = billing.get(f"/billing/v1/invoices/{created['id']}").json()
            assert invoice_after["status"] == "open"
            assert invoice_after["amount_paid"] == 100
            replay = billing.post(
                "/billing/v1/invoices", data=draft, headers={"Idempotency-Key": "invoice-2026-0001"}
            )
            assert replay.status_code == 200
            assert replay.json() == created
        with client(process.base_url, headers=admin_headers) as admin:
            assert admin.get("/_admin/crm/token-lifetime").json() == {"seconds": 600}
            limit = admin.get("/_admin/enrichment/rate-limit").json()
            assert (limit["per_second"], limit["burst"]) == (50.0, 7)
            [target] = admin.get("/_admin/webhooks").json()["targets"]
            assert target["system"] == "billing"
            [event_after] = admin.get("/_admin/webhooks/events").json()["events"]
            assert event_after == event_before
            assert event_after["delivery_status"] == "failed"
            assert len(admin.get("/_admin/webhooks/deliveries").json()["deliveries"]) == 1
            # The same payment id after the restart records nothing new.
            repeat = admin.post(
                "/_admin/billing/invoices/2026-0001/payments",
                json={"amount_cents": 100, "payment_id": "bank-1"},
            )
            assert repeat.status_code == 200
    finally:
        process.stop()


# A draft in Stripe's form encoding, numbered 2026-0001 (the admin API pays it by that number).
STRIPE_DRAFT = {
    "currency": "eur",
    "collection_method": "send_invoice",
    "days_until_due": "30",
    "metadata[invoice_number]": "2026-0001",
}


def _wait_for_attempts(admin: httpx.Client, at_least: int) -> None:
    """Until the only webhook event has `at_least` delivery attempts recorded (10 s at most)."""
    deadline = time.monotonic() + 10
    while admin.get("/_admin/webhooks/events").json()["events"][0]["attempts"] < at_least:
        assert time.monotonic() < deadline, f"fewer than {at_least} attempts recorded"
        time.sleep(0.05)


def test_events_left_pending_are_delivered_after_a_restart(
    tmp_path: Path, fresh_database_url: str
) -> None:
    process = SandboxProcess(fresh_database_url, tmp_path / "sandbox.log")
    admin_headers = {"X-Admin-Token": ADMIN_TOKEN}
    with WebhookReceiver([500] * 20) as receiver:
        process.start()
        try:
            with client(process.base_url, headers=admin_headers) as admin:
                seed_credentials(admin)
                admin.put(
                    "/_admin/webhooks/esign", json={"url": receiver.url, "secret": "s"}
                ).raise_for_status()
            with client(process.base_url, headers={"X-Api-Key": ESIGN_KEY}) as esign:
                esign.post("/esign/envelopes", json=envelope()).raise_for_status()
            with client(process.base_url, headers=admin_headers) as admin:
                admin.post("/_admin/esign/envelopes/ENV-000001/sign").raise_for_status()
                receiver.wait_for(1)
                # Stopped once the sandbox has recorded that attempt, not while it records it.
                _wait_for_attempts(admin, 1)
        finally:
            process.stop()
        receiver.answer()  # 200 from now on
        failed_before = len(receiver.deliveries)  # 1, or 2 if the first retry came that fast
        process.start()
        try:
            delivered = receiver.wait_for(failed_before + 1)[failed_before]
            assert delivered.answered == 200
            assert delivered.event["id"] == receiver.deliveries[0].event["id"]
            with client(process.base_url, headers=admin_headers) as admin:
                deadline = time.monotonic() + 10
                while True:
                    [event] = admin.get("/_admin/webhooks/events").json()["events"]
                    if event["delivery_status"] == "delivered":
                        break
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
                assert event["attempts"] >= 2
        finally:
            process.stop()
