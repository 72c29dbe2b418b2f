"""A restart on the same SQLite file keeps records, credentials, idempotency keys and ledger."""

from __future__ import annotations

from pathlib import Path

from tests.sandbox.conftest import (
    ADMIN_TOKEN,
    ERP_PASSWORD,
    ERP_USER,
    MAIL_KEY,
    SandboxProcess,
    client,
    seed_credentials,
)
from tests.sandbox.factories import message, vendor


def test_a_restart_keeps_everything(tmp_path: Path) -> None:
    process = SandboxProcess(f"sqlite:///{tmp_path / 'sandbox.db'}", tmp_path / "sandbox.log")
    admin_headers = {"X-Admin-Token": ADMIN_TOKEN}
    mail_headers = {"Authorization": f"Bearer {MAIL_KEY}", "Idempotency-Key": "welcome-APP-1"}

    process.start()
    try:
        with client(process.base_url, headers=admin_headers) as admin:
            seed_credentials(admin)
            admin.put("/_admin/faults/erp", json={"latency_ms": 1}).raise_for_status()
        with client(process.base_url, auth=(ERP_USER, ERP_PASSWORD)) as erp:
            created = erp.post(
                "/erp/vendors", json=vendor(), headers={"Idempotency-Key": "vendor-APP-1"}
            ).json()
        with client(process.base_url, headers=mail_headers) as mail:
            sent = mail.post("/mail/messages", json=message()).json()
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
        with client(process.base_url, headers=mail_headers) as mail:
            assert mail.post("/mail/messages", json=message()).json() == sent
            assert len(mail.get("/mail/outbox").json()["messages"]) == 1
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
