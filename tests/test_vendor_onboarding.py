"""VendorOnboarding end to end on the real stack: records in the sandbox, audit rows, failures."""

import asyncio
from datetime import datetime

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import CancelledError

from chaos.forms import new_key
from domain.approvals import ApprovalKind, Resolution
from domain.contract import STAGE, VENDOR_ONBOARDING_ID_PREFIX, vendor_onboarding_id
from domain.status import WorkflowStatus
from starters.approvals import decide
from starters.directory import Approver
from tests.helpers import (
    Ledger,
    audit_rows,
    failure_of,
    first_email_refused,
    for_run,
    result_of,
    start,
    status,
    wait_for,
)

OMAR = Approver(id="omar", name="Omar", email="omar@company.example", roles=["operations"])


async def test_happy_path_creates_each_record_once(client, settings, admin):
    handle = await start(client, settings)
    result = await asyncio.wait_for(handle.result(), 60)
    key = result.application_id

    ledger = Ledger(admin)
    vendors = ledger.of(key, "vendor")
    accounts = ledger.of(key, "account")
    assert [v["id"] for v in vendors] == [result.vendor_id]
    assert vendors[0]["status"] == "active"
    assert [a["id"] for a in accounts] == [result.portal_account_id]
    assert [m["id"] for m in ledger.emails(key)] == [result.welcome_message_id]
    entries = [r for r in ledger.records if r["kind"] == "approved_supplier"]
    assert [e["id"] for e in entries if e["data"]["vendor_id"] == result.vendor_id] == [
        result.supplier_list_entry_id
    ]
    assert result.approval == "not required"

    calls = {
        (row.system, row.method, row.path, row.status) for row in audit_rows(settings, handle.id)
    }
    assert {
        ("erp", "POST", "/vendors", 201),
        ("portal", "POST", "/accounts", 201),
        ("mail", "SMTP", f"{settings.smtp_host}:{settings.smtp_port}", 250),
        ("erp", "POST", "/approved-suppliers", 201),
    } <= calls
    final = await status(handle)
    assert final.stage == "completed" and final.outcome == "onboarded"


async def test_same_application_twice_is_one_workflow(client, settings, admin):
    first = await start(client, settings, application_id="APP-TWICE-1")
    second = await start(client, settings, application_id="APP-TWICE-1")
    assert first.id == second.id == "vendor-onboarding-APP-TWICE-1"
    await result_of(first)
    third = await start(client, settings, application_id="APP-TWICE-1")
    assert (await third.describe()).run_id == (await first.describe()).run_id
    runs = [w async for w in client.list_workflows('WorkflowId = "vendor-onboarding-APP-TWICE-1"')]
    assert len(runs) == 1
    assert len(Ledger(admin).of("APP-TWICE-1", "vendor")) == 1


@pytest.mark.parametrize(
    ("code", "overrides"),
    [
        ("INVALID_PAYMENT_TERMS", {"vendor_type": "contractor", "payment_terms": "net60"}),
        ("DUPLICATE_TAX_ID", None),
    ],
)
async def test_invalid_application_fails_fast_and_creates_nothing(
    client, settings, admin, code, overrides
):
    if overrides is None:  # a second vendor with a tax id the ERP already holds
        first = await start(client, settings, tax_id="DE555000111", country="DE")
        await result_of(first)
        overrides = {"tax_id": "DE555000111", "country": "DE"}
    handle = await start(client, settings, **overrides)
    error = await failure_of(handle)
    assert error.type == code
    key = handle.id.removeprefix(VENDOR_ONBOARDING_ID_PREFIX)
    ledger = Ledger(admin)
    assert ledger.of(key) == [] and ledger.emails(key) == []


STEPS = [
    ("create vendor", "erp", "/vendors", "POST"),
    ("create portal account", "portal", "/accounts", "POST"),
    ("send welcome email", "mail", "", "SMTP"),
    ("add to supplier list", "erp", "/approved-suppliers", "POST"),
]


@pytest.mark.parametrize("k", range(len(STEPS)), ids=[s[0] for s in STEPS])
async def test_permanent_failure_at_step_k_undoes_exactly_the_steps_before(
    client, settings, admin, mailbox, k
):
    _, system, path, method = STEPS[k]
    if system == "mail":
        # The SMTP server refuses the welcome email (550); the slow undo of the portal
        # account leaves time to lift the refusal before the cancellation email.
        admin.put(
            "/_admin/faults/portal",
            json={"path": "/accounts", "method": "DELETE", "latency_ms": 2000},
        ).raise_for_status()
        handle = await first_email_refused(mailbox, settings, start(client, settings))
        refused = "SMTP_550"
    else:
        key = f"APP-{new_key()}"
        rule = {
            "status": 422,
            "code": "REFUSED_BY_TEST",
            "path": path + "$",
            "method": method,
            "count": 1,
        }
        admin.put(
            f"/_admin/faults/{system}", json=for_run(vendor_onboarding_id(key), rule)
        ).raise_for_status()
        handle = await start(client, settings, application_id=key)
        refused = "REFUSED_BY_TEST"
    key = handle.id.removeprefix(VENDOR_ONBOARDING_ID_PREFIX)
    error = await failure_of(handle)
    assert error.type == refused
    assert "undone:" in error.message

    ledger = Ledger(admin)
    vendor = ledger.of(key, "vendor")
    account = ledger.of(key, "account")
    assert len(vendor) == (1 if k > 0 else 0)
    assert len(account) == (1 if k > 1 else 0)
    assert all(v["status"] == "inactive" for v in vendor)
    assert all(a["status"] == "deleted" for a in account)
    assert len(ledger.emails(key, "vendor-welcome")) == (1 if k > 2 else 0)
    assert len(ledger.emails(key, "vendor-cancellation")) == 1

    # Reverse order: portal account first, then the vendor, the cancellation email last.
    undo = [
        (e["kind"], e["action"])
        for e in ledger.events_for({r["id"] for r in vendor + account})
        if e["action"] in {"deleted", "deactivated"}
    ]
    expected = [("account", "deleted")] * (k > 1) + [("vendor", "deactivated")] * (k > 0)
    assert undo == expected
    last = audit_rows(settings, handle.id)[-1]
    assert (last.system, last.status) == ("mail", 250)
    final = await status(handle)
    assert final.stage == "compensated"
    assert len(final.compensations) == len(expected) + 1


async def test_transient_faults_still_create_exactly_one_of_each(client, settings, admin, mailbox):
    for system, seed in (("erp", 1), ("portal", 2)):
        admin.put(
            f"/_admin/faults/{system}", json={"error_rate": 0.3, "status": 503, "seed": seed}
        ).raise_for_status()
    mailbox.refuse("Recipient", 451, percent=30)  # "try again later", in 30 % of the sessions
    key = f"APP-{new_key()}"
    once_429 = {"status": 429, "retry_after": 2, "path": "/accounts", "method": "POST", "count": 1}
    admin.put(
        "/_admin/faults/portal",
        json=[
            for_run(vendor_onboarding_id(key), once_429),
            {"error_rate": 0.3, "status": 503, "seed": 2},
        ],
    ).raise_for_status()
    handle = await start(client, settings, application_id=key)
    result = await asyncio.wait_for(handle.result(), 120)
    key = result.application_id
    ledger = Ledger(admin)
    assert len(ledger.of(key, "vendor")) == 1
    assert len(ledger.of(key, "account")) == 1
    assert len(ledger.emails(key, "vendor-welcome")) == 1

    rows = audit_rows(settings, handle.id)
    assert any(r.status == 503 for r in rows), "the fault plan never fired"
    mails = [r.status for r in rows if r.system == "mail"]
    assert set(mails) <= {451, 250} and mails.count(250) == 1
    creates = [r for r in rows if r.system == "portal" and r.method == "POST"]
    limited = next(i for i, r in enumerate(creates) if r.status == 429)
    retry = creates[limited + 1]
    gap = (_at(retry) - _at(creates[limited])).total_seconds()
    assert gap >= 2.0, f"Retry-After of 2 s not honoured (retried after {gap:.2f} s)"


def _at(row) -> datetime:
    return row.at


async def test_cancelling_a_run_compensates_what_it_created(client, settings, admin):
    # The portal is slow, so the cancel arrives while the account is being created.
    key = f"APP-{new_key()}"
    slow = {"path": "/accounts$", "method": "POST", "latency_ms": 2000}
    admin.put(
        "/_admin/faults/portal", json=for_run(vendor_onboarding_id(key), slow)
    ).raise_for_status()
    handle = await start(client, settings, application_id=key)
    await wait_for(lambda: _stage(handle, "creating_portal_account"), what="the portal call")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as ended:
        await result_of(handle)
    assert isinstance(ended.value.cause, CancelledError)

    ledger = Ledger(admin)
    assert [v["status"] for v in ledger.of(key, "vendor")] == ["inactive"]
    assert [a["status"] for a in ledger.of(key, "account")] == ["deleted"]
    assert len(ledger.emails(key, "vendor-cancellation")) == 1
    final = await status(handle)
    assert final.outcome == "cancelled" and len(final.compensations) == 3


async def test_a_compensation_that_keeps_failing_waits_for_operations(
    client, settings, admin, mailbox
):
    admin.put(
        "/_admin/faults/portal", json={"status": 500, "path": "/accounts", "method": "DELETE"}
    ).raise_for_status()
    handle = await first_email_refused(mailbox, settings, start(client, settings))
    key = handle.id.removeprefix(VENDOR_ONBOARDING_ID_PREFIX)
    waiting = await wait_for(lambda: _waits_for_review(handle), what="the review item")
    assert waiting.stage == "compensating"
    assert waiting.problem and "delete portal account (INJECTED_FAULT)" in waiting.problem
    assert "FAILED: delete portal account (INJECTED_FAULT)" in waiting.compensations
    assert (await handle.describe()).search_attributes.get(STAGE.name) == ["attention_needed"]
    # The other compensations still ran.
    ledger = Ledger(admin)
    assert [v["status"] for v in ledger.of(key, "vendor")] == ["inactive"]
    assert [a["status"] for a in ledger.of(key, "account")] == ["active"]
    assert len(ledger.emails(key, "vendor-cancellation")) == 1

    # The portal is well again: operations retry the compensation that failed, and only it.
    admin.delete("/_admin/faults").raise_for_status()
    assert (await decide(client, OMAR, handle.id, Resolution.RETRY, "portal fixed")).accepted
    error = await failure_of(handle)
    assert error.type != "COMPENSATION_FAILED"
    final = await status(handle)
    assert final.stage == "compensated"
    assert not [c for c in final.compensations if c.startswith("FAILED")]
    ledger = Ledger(admin)
    assert [a["status"] for a in ledger.of(key, "account")] == ["deleted"]
    assert len(ledger.emails(key, "vendor-cancellation")) == 1  # not sent again


async def _waits_for_review(handle) -> WorkflowStatus | None:
    now = await status(handle)
    pending = now.pending_approval
    return now if pending is not None and pending.request.kind == ApprovalKind.ATTENTION else None


async def _stage(handle, stage: str) -> bool:
    return (await status(handle)).stage == stage
