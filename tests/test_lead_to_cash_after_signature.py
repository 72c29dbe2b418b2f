"""LeadToCash after the signature, its point of no return: the child invoice's failure is shown
to operators and nothing signed is undone."""

import asyncio
from typing import Any

import httpx

from domain.approvals import Decision
from domain.contract import INVOICE_ID_PREFIX, STAGE
from starters.approvals import decide
from starters.directory import Approver
from starters.sandbox_actions import move_deal, sign_envelope
from tests.helpers import failure_of, status, wait_for
from tests.invoicing import billing_invoices, pay
from tests.resets import reset_before
from tests.test_lead_to_cash import (
    PRICE,
    SEATS,
    TAX_BP,
    _deal_of,
    _envelope_of,
    _handle,
    _records,
    _stage,
    _start,
    _step,
)

FIONA = Approver(id="fiona", name="Fiona", email="fiona@company.example", roles=["finance"])


async def _signed(client, settings, stack, child_stage: str, **form: Any):
    """A lead won and signed, its child invoice run at `child_stage`: (run, form, child id)."""
    workflow_id, sent = await _start(stack, **form)
    handle = _handle(client, workflow_id)
    move_deal(settings, await _deal_of(handle), "closed_won")
    sign_envelope(settings, await _envelope_of(handle))
    child_id = await wait_for(lambda: _step(handle, "invoice workflow "), what="the child")
    child = client.get_workflow_handle(child_id)
    await wait_for(lambda: _stage(child, child_stage), what=f"the invoice at {child_stage}")
    return handle, sent, child_id


async def test_a_rejected_child_invoice_is_shown_and_the_signed_contract_stays(
    client, settings, admin, stack
):
    # 10 seats: 12,000.00 EUR, at or above the invoice's finance approval threshold.
    handle, form, child_id = await _signed(client, settings, stack, "awaiting_approval", seats=10)
    assert (await decide(client, FIONA, child_id, Decision.REJECT, "wrong price")).accepted

    error = await failure_of(handle)
    assert error.type == "APPROVAL_REJECTED"
    final = await status(handle)
    assert final.attention is not None and child_id in final.attention
    assert final.compensations == []
    described = await handle.describe()
    assert described.search_attributes.get(STAGE.name) == ["attention_needed"]
    # The contract stays signed and the deal won: nothing after the signature is undone.
    envelopes = _records(admin, "esign", "envelope", external_ref=form["lead_id"])
    assert [e["status"] for e in envelopes] == ["completed"]
    [deal] = _records(admin, "crm", "deal", external_ref=form["lead_id"])
    assert deal["status"] == "closed_won"
    number = child_id.removeprefix(INVOICE_ID_PREFIX)
    assert [i["status"] for i in billing_invoices(admin, number)] == ["deleted"]  # a draft: deleted

    # Its contract is signed: a re-run would sign and bill twice, so it is refused.
    token = stack.credentials()["api_clients"]["svc-onboarding"]
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as api:
        answer = await api.post(
            "/v1/leads",
            params={"rerun": "true"},
            json=form,
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "RERUN_REFUSED"
    assert (await handle.describe()).run_id == described.run_id


async def test_a_reset_before_the_invoice_started_follows_the_one_invoice_run(
    client, settings, admin, stack
):
    handle, _, child_id = await _signed(client, settings, stack, "awaiting_payment")

    # An operator resets the run to the workflow task before it started its invoice.
    first_run = await reset_before(
        handle, stack.temporal_address, "start_child_workflow_execution_initiated_event_attributes"
    )
    await wait_for(
        lambda: _step(handle, "following the existing "), what="the reset run to follow it"
    )
    assert (await handle.describe()).run_id != first_run

    number = child_id.removeprefix(INVOICE_ID_PREFIX)
    pay(admin, number, SEATS * PRICE + SEATS * PRICE * TAX_BP // 10_000, payment_id=f"{number}-p")
    result = await asyncio.wait_for(handle.result(), 90)
    assert result.outcome == "won"
    # One invoice run, one invoice: the reset started no second one.
    runs = [w async for w in client.list_workflows(f'WorkflowId = "{child_id}"')]
    assert len(runs) == 1
    assert [i["status"] for i in billing_invoices(admin, number)] == ["paid"]
