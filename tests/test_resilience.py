"""Crashes and credential changes: a killed worker and a rotated secret create nothing twice."""

import asyncio
import secrets

from domain.contract import vendor_onboarding_id
from tests.helpers import (
    Ledger,
    audit_rows,
    for_run,
    new_application_id,
    result_of,
    start,
    status,
    wait_for,
)


async def test_worker_killed_mid_call_completes_without_duplicates(client, settings, admin, stack):
    # The ERP takes 3 s to answer the create call: the worker dies while it is in flight,
    # after the ERP has written the vendor but before the activity could report it.
    key = new_application_id()
    slow = {"path": "/vendors$", "method": "POST", "latency_ms": 3000}
    admin.put(
        "/_admin/faults/erp", json=for_run(vendor_onboarding_id(key), slow)
    ).raise_for_status()
    handle = await start(client, settings, application_id=key)
    await wait_for(lambda: _stage_is(handle, "creating_vendor"), timeout=30, what="the create call")
    await asyncio.sleep(1.0)
    stack.kill_worker()
    await wait_for(lambda: Ledger(admin).of(key, "vendor"), timeout=10, what="the ERP write")
    admin.delete("/_admin/faults").raise_for_status()
    stack.start_worker()

    result = await asyncio.wait_for(handle.result(), 120)
    ledger = Ledger(admin)
    vendors = ledger.of(key, "vendor")
    assert [v["id"] for v in vendors] == [result.vendor_id]
    assert len(ledger.of(key, "account")) == 1
    assert len(ledger.emails(key, "vendor-welcome")) == 1
    replays = [
        e for e in ledger.events_for({result.vendor_id}) if e["action"] == "idempotent_replay"
    ]
    assert len(replays) == 1, "the retried create call should have been answered from its key"
    creates = [
        r for r in audit_rows(settings, handle.id) if r.path == "/vendors" and r.method == "POST"
    ]
    assert [r.attempt for r in creates][-1] >= 2


async def _stage_is(handle, stage: str) -> bool:
    return (await status(handle)).stage == stage


async def test_rotated_credential_costs_one_401_then_succeeds(client, settings, admin, stack):
    warm = await start(client, settings)  # the worker now holds the portal key in its cache
    await result_of(warm)
    new_key = secrets.token_urlsafe(24)
    stack.vault_root().secrets.kv.v2.create_or_update_secret(
        path="backoffice/systems/portal", secret={"api_key": new_key}, mount_point="secret"
    )
    admin.put("/_admin/credentials/portal", json={"api_keys": [new_key]}).raise_for_status()

    handle = await start(client, settings)
    await asyncio.wait_for(handle.result(), 60)
    portal_calls = [r for r in audit_rows(settings, handle.id) if r.system == "portal"]
    assert [r.status for r in portal_calls] == [401, 201]
    assert portal_calls[0].attempt == portal_calls[1].attempt == 1
