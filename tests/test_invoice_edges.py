"""InvoiceGeneration at its edges, on the real stack: a cancel before sending, a finance approval
that expires, `void` refused (not sent, already voided), voiding an overdue invoice, billing's
void failing in the closing step, a second invoice for the same customer."""

import asyncio
import secrets
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError

from activities.stripe_api import RATE_BP
from devstack.vault_seed import APPROVERS
from domain.contract import CUSTOMER_ID, INVOICE_ID_PREFIX
from domain.invoice import InvoiceRequest, InvoiceResult
from starters.directory import Approver
from starters.invoices import void_invoice
from starters.start import start_invoice
from tests.helpers import Ledger, failure_of, result_of, stage_in, status, wait_for
from tests.invoicing import (
    AT_THRESHOLD,
    PATIENT_APPROVALS,
    billing_customers,
    billing_invoices,
    invoice_request,
    second_deal,
    start_invoice_run,
)
from tests.test_reconciliation import Billing

FINANCE_APPROVERS = [p for p, (_name, roles) in APPROVERS.items() if "finance" in roles]
FIONA = Approver(id="fiona", name="Fiona", email="fiona@company.example", roles=["finance"])


async def _sent(
    client, settings, admin, crm
) -> tuple[WorkflowHandle[Any, InvoiceResult], str, str]:
    """A sent invoice's run, its number, and billing's path for voiding it."""
    handle = await start_invoice_run(client, settings, crm)
    number = _number(handle)
    await wait_for(lambda: stage_in(handle, "awaiting_payment"), what="the invoice to be sent")
    [invoice] = billing_invoices(admin, number)
    return handle, number, f"/v1/invoices/{invoice['id']}/void$"


def _number(handle) -> str:
    return handle.id.removeprefix(INVOICE_ID_PREFIX)


async def test_void_before_sending_is_refused_and_a_cancel_deletes_the_draft(
    client, settings, admin, crm
):
    handle = await start_invoice_run(
        client, settings, crm, policy=PATIENT_APPROVALS, lines=AT_THRESHOLD
    )
    number = _number(handle)
    await wait_for(lambda: stage_in(handle, "awaiting_approval"), what="finance approval")
    assert [i["status"] for i in billing_invoices(admin, number)] == ["draft"]

    refused = await void_invoice(client, FIONA, number, "not needed")
    assert not refused.accepted and refused.code == "NOT_SENT"
    assert (await status(handle)).stage == "awaiting_approval"  # nothing changed

    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as ended:
        await result_of(handle)
    assert isinstance(ended.value.cause, CancelledError)
    assert [i["status"] for i in billing_invoices(admin, number)] == ["deleted"]  # a draft: deleted
    assert Ledger(admin).emails(number, "invoice") == []
    final = await status(handle)
    assert final.outcome == "cancelled" and len(final.compensations) == 1


async def test_a_cancel_while_the_approval_message_goes_out_ends_the_run(
    client, settings, admin, crm
):
    """The worker is posting the approval to its last approver in Slack when the cancel comes:
    the post learns nothing of it (no heartbeat after the last message) and succeeds, as calls
    wait for their outcome on a cancel. The run must end cancelled with its draft deleted: it
    used to wait on for the decision, the cancel lost (seen once under load)."""
    slow = {"path": "/chat.postMessage", "method": "POST", "latency_ms": 8000}
    admin.put("/_admin/faults/slack", json=slow).raise_for_status()
    try:
        handle = await start_invoice_run(
            client, settings, crm, policy=PATIENT_APPROVALS, lines=AT_THRESHOLD
        )
        number = _number(handle)
        await wait_for(lambda: _posting_the_last(handle, admin), what="the last approval post")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as ended:
            await result_of(handle)
    finally:
        admin.put("/_admin/faults/slack", json=[]).raise_for_status()

    assert isinstance(ended.value.cause, CancelledError)
    events = [e async for e in handle.fetch_history_events()]
    [post] = [
        e.event_id
        for e in events
        if e.activity_task_scheduled_event_attributes.activity_type.name == "slack.post_approval"
    ]
    [asked] = [
        e.event_id
        for e in events
        if e.activity_task_cancel_requested_event_attributes.scheduled_event_id == post
    ]
    [completed] = [
        e.event_id
        for e in events
        if e.activity_task_completed_event_attributes.scheduled_event_id == post
    ]
    assert asked < completed, "the post completed after the cancel was asked of it"
    assert [i["status"] for i in billing_invoices(admin, number)] == ["deleted"]
    final = await status(handle)
    assert final.outcome == "cancelled" and len(final.compensations) == 1


async def _posting_the_last(handle: WorkflowHandle[Any, Any], admin) -> bool:
    """Whether the worker is posting the approval to the last of the finance approvers (direct
    messages, one each): its heartbeat has recorded the ones before, and Slack has the last
    request in hand (the slow rule has met one request per approver)."""
    pending = (await handle.describe()).raw_description.pending_activities
    posts = [a for a in pending if a.activity_type.name == "slack.post_approval"]
    if not posts or not posts[0].HasField("last_heartbeat_time"):
        return False
    [rule] = admin.get("/_admin/faults").json()["faults"]["slack"]
    return bool(rule["matched"] == len(FINANCE_APPROVERS))


async def test_an_expired_finance_approval_deletes_the_draft(client, settings, admin, crm):
    short = {"remind_after": timedelta(seconds=1), "escalate_after": timedelta(seconds=1)}
    policy = {"approval_timeouts": short | {"expire_after": timedelta(seconds=3)}}
    handle = await start_invoice_run(client, settings, crm, policy=policy, lines=AT_THRESHOLD)
    number = _number(handle)

    error = await failure_of(handle)

    assert error.type == "APPROVAL_EXPIRED", error
    assert [i["status"] for i in billing_invoices(admin, number)] == ["deleted"]  # a draft: deleted
    assert Ledger(admin).emails(number, "invoice") == []
    final = await status(handle)
    assert [a.status for a in final.approvals] == ["expired"]


async def test_a_second_void_while_the_first_runs_is_refused(client, settings, admin, crm):
    handle, number, void_path = await _sent(client, settings, admin, crm)
    # Billing takes its time to void: the second request meets the first under way.
    admin.put(
        "/_admin/faults/billing",
        json={"path": void_path, "method": "POST", "latency_ms": 3000},
    ).raise_for_status()
    first = asyncio.create_task(void_invoice(client, FIONA, number, "duplicate"))
    await wait_for(lambda: stage_in(handle, "voiding"), what="the void under way")
    second = await void_invoice(client, FIONA, number, "duplicate, again")
    assert not second.accepted and second.code == "ALREADY_DECIDED"
    assert (await asyncio.wait_for(first, 60)).accepted

    result = await result_of(handle)
    assert result.status == "void"
    assert [i["status"] for i in billing_invoices(admin, number)] == ["void"]


async def test_an_overdue_invoice_can_be_voided(client, settings, admin, crm):
    policy = {"dunning_offsets": [timedelta(seconds=0.5)]}
    handle = await start_invoice_run(
        client, settings, crm, policy=policy, payment_terms="immediate"
    )
    number = _number(handle)
    await wait_for(lambda: stage_in(handle, "overdue"), what="the invoice to go overdue")
    await wait_for(lambda: Ledger(admin).emails(number, "invoice-overdue"), what="collections")

    voided = await void_invoice(client, FIONA, number, "written off")
    assert voided.accepted, voided
    result = await result_of(handle)
    assert result.status == "void"
    assert [i["status"] for i in billing_invoices(admin, number)] == ["void"]


async def test_billing_refusing_the_void_fails_the_run_and_leaves_the_invoice_open(
    client, settings, admin, crm
):
    handle, number, void_path = await _sent(client, settings, admin, crm)
    admin.put(
        "/_admin/faults/billing",
        json={
            "status": 422,
            "code": "REFUSED_BY_TEST",
            "path": void_path,
            "method": "POST",
        },
    ).raise_for_status()

    outcome = asyncio.create_task(void_invoice(client, FIONA, number, "customer cancelled"))
    with pytest.raises(WorkflowFailureError) as failed:
        await result_of(handle)
    cause: BaseException | None = failed.value.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    # Billing speaks Stripe: its refusal's code, as Stripe writes codes.
    assert isinstance(cause, ApplicationError) and cause.type == "refused_by_test", failed.value
    assert [i["status"] for i in billing_invoices(admin, number)] == ["open"]
    outcome.cancel()


async def test_a_second_invoice_for_the_same_account_reuses_its_billing_customer(
    client, settings, admin, crm
):
    account_id, deal_id = crm.account_and_deal()
    customers = [
        await _customer_once_sent(client, settings, account_id, deal)
        for deal in (deal_id, second_deal(crm, account_id))
    ]

    assert customers[0] == customers[1] and customers[0]
    assert [c["id"] for c in billing_customers(admin, account_id)] == customers[0]


async def _customer_once_sent(client, settings, account_id: str, deal_id: str) -> Any:
    """The CustomerId of an invoice run for this account and deal, once it is sent."""
    request = InvoiceRequest.model_validate(invoice_request(account_id, deal_id))
    handle = client.get_workflow_handle(
        (await start_invoice(client, settings, request)).workflow_id
    )
    await wait_for(lambda: stage_in(handle, "awaiting_payment"), what="the invoice sent")
    return (await handle.describe()).search_attributes.get(CUSTOMER_ID.name)


async def test_billing_computing_another_total_stops_the_invoice_before_anyone_sees_it(
    client, settings, admin, crm, stack
):
    """Billing holds a tax rate with our marker for this rate but another percentage (set up
    by hand, say): its total is not ours, so the draft is deleted and nothing is sent."""
    rate_bp = 1001 + 2 * secrets.randbelow(400)  # an odd rate no other test uses
    Billing(stack).tax_rate("20.00", {RATE_BP: str(rate_bp)})
    line = {"description": "Licence", "quantity": 1, "unit_price_cents": 10_000}
    lines = [line | {"tax_rate_bp": rate_bp}]
    handle = await start_invoice_run(client, settings, crm, lines=lines)
    number = _number(handle)

    error = await failure_of(handle)

    assert error.type == "TOTAL_MISMATCH", error
    assert "billing computed 12000" in error.message
    assert [i["status"] for i in billing_invoices(admin, number)] == ["deleted"]
    assert Ledger(admin).emails(number, "invoice") == []
    final = await status(handle)
    assert final.outcome == "total_mismatch" and len(final.compensations) == 1
