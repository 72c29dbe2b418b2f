"""InvoiceGeneration around its point of no return, the email to the customer: a cancel at each
step either voids an invoice nobody was sent, or leaves open the one the customer has; a
notification that fails after sending is shown and never ends the run."""

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError

from domain.approvals import Decision
from domain.contract import INVOICE_GENERATION, INVOICE_ID_PREFIX, STAGE, invoice_workflow_id
from domain.invoice import InvoiceGenerationInput, InvoicePolicy, InvoiceRequest, InvoiceResult
from domain.systems import WORKFLOW_TASK_QUEUE
from starters.approvals import decide
from starters.directory import Approver
from tests.helpers import Ledger, status, wait_for
from tests.invoicing import Crm, billing_invoices, invoice_request, pay

FIONA = Approver(id="fiona", name="Fiona", email="fiona@company.example", roles=["finance"])
BIG = [{"description": "Licence", "quantity": 1, "unit_price_cents": 1_000_000, "tax_rate_bp": 0}]
SMALL = [{"description": "Licence", "quantity": 1, "unit_price_cents": 50_000, "tax_rate_bp": 0}]


async def _start(
    client: Client, crm: Crm, lines: list[dict[str, Any]], **policy: Any
) -> WorkflowHandle[Any, InvoiceResult]:
    account_id, deal_id = crm.account_and_deal()
    request = InvoiceRequest.model_validate(
        invoice_request(account_id, deal_id, lines=lines, payment_terms="immediate")
    )
    return await client.start_workflow(
        INVOICE_GENERATION,
        InvoiceGenerationInput(request=request, policy=InvoicePolicy(**policy)),
        id=invoice_workflow_id(request.invoice_number),
        task_queue=WORKFLOW_TASK_QUEUE,
        result_type=InvoiceResult,
    )


async def _running(handle: WorkflowHandle[Any, Any], activity: str) -> bool:
    """An attempt of `activity` is under way (started by a worker, not yet answered)."""
    pending = (await handle.describe()).raw_description.pending_activities
    return any(
        p.activity_type.name == activity and p.last_started_time.seconds > 0 for p in pending
    )


async def _ends_cancelled(handle: WorkflowHandle[Any, Any]) -> None:
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), 90)
    assert isinstance(failed.value.cause, CancelledError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert (await status(handle)).outcome == "cancelled"


def _number(handle: WorkflowHandle[Any, Any]) -> str:
    return handle.id.removeprefix(INVOICE_ID_PREFIX)


async def test_a_cancel_while_the_invoice_email_goes_out_leaves_the_sent_invoice_open(
    client, admin, crm, smtp_proxy
):
    smtp_proxy.faults.latency_seconds = 4.0  # a slow SMTP relay
    handle = await _start(client, crm, SMALL)
    number = _number(handle)
    await wait_for(lambda: _running(handle, "mail.send_email"), what="the invoice email under way")

    await handle.cancel()
    await _ends_cancelled(handle)
    final = await status(handle)
    assert final.compensations == []
    assert [i["status"] for i in billing_invoices(admin, number)] == ["open"]
    assert len(Ledger(admin).emails(number, "invoice")) == 1


async def test_a_cancel_while_finalizing_voids_the_invoice_and_sends_nothing(client, admin, crm):
    handle = await _start(client, crm, BIG)
    number = _number(handle)
    await wait_for(lambda: _stage(handle, "awaiting_approval"), what="approval")
    [draft] = billing_invoices(admin, number)
    admin.put(
        "/_admin/faults/billing",
        json={
            "path": f"/v1/invoices/{draft['id']}/finalize$",
            "method": "POST",
            "latency_ms": 3000,
        },
    ).raise_for_status()
    assert (await decide(client, FIONA, handle.id, Decision.APPROVE, "ok")).accepted
    await wait_for(lambda: _running(handle, "billing.finalize_invoice"), what="finalizing")

    await handle.cancel()
    await _ends_cancelled(handle)
    assert (await status(handle)).compensations != []
    assert [i["status"] for i in billing_invoices(admin, number)] == ["void"]
    assert Ledger(admin).emails(number, "invoice") == []


async def _stage(handle: WorkflowHandle[Any, Any], stage: str) -> bool:
    return (await status(handle)).stage == stage


async def _attention(handle: WorkflowHandle[Any, Any]) -> bool:
    return (await handle.describe()).search_attributes.get(STAGE.name) == ["attention_needed"]


async def test_a_reminder_that_fails_for_good_is_shown_and_the_run_still_gets_paid(
    client, admin, crm, mailbox
):
    handle = await _start(
        client, crm, SMALL, dunning_offsets=[timedelta(seconds=2), timedelta(seconds=3)]
    )
    number = _number(handle)
    await wait_for(lambda: _stage(handle, "awaiting_payment"), what="sending")
    # The SMTP server refuses every recipient from now on: the reminders fail for good.
    mailbox.refuse("Recipient", 550)
    await wait_for(lambda: _attention(handle), what="the failed reminder shown")
    shown = await status(handle)
    assert shown.attention is not None and "SMTP_550" in shown.attention
    await wait_for(lambda: _stage(handle, "overdue"), what="the run goes on")
    mailbox.clear_faults()

    pay(admin, number, 50_000, payment_id=f"{number}-pay")
    result = await asyncio.wait_for(handle.result(), 90)
    assert result.status == "paid" and result.amount_paid_cents == 50_000
    assert Ledger(admin).emails(number, "invoice-reminder") == []
