"""LeadToCash at its edges, on the real stack: an approved discount, a cancel after
`closed_won` (before the signature: undone), enrichment that is unavailable (the run goes on),
a child invoice voided (the run ends without onboarding), a cancel that arrives with the
signature (nothing undone)."""

import uuid

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError

from domain.approvals import Decision
from domain.contract import (
    CONTRACT_SIGNED_SIGNAL,
    INVOICE_ID_PREFIX,
    LEAD_TO_CASH,
    lead_to_cash_id,
)
from domain.lead import LeadForm, LeadToCashInput, LeadToCashResult
from starters.approvals import decide
from starters.directory import Approver
from starters.invoices import void_invoice
from starters.sandbox_actions import move_deal, sign_envelope
from tests.helpers import Ledger, result_of, stage_in, status, wait_for
from tests.test_lead_to_cash import (
    SAM,
    _deal_of,
    _envelope_of,
    _handle,
    _records,
    _stage,
    _start,
    _step,
    lead_form,
)
from workers.build import workflow_worker
from workers.versioning import deployment_config
from workflows.lead_to_cash import LeadToCash

FIONA = Approver(id="fiona", name="Fiona", email="fiona@company.example", roles=["finance"])


async def test_an_approved_discount_goes_on_to_the_contract(client, settings, admin, stack):
    workflow_id, form = await _start(stack, requested_discount_bp=2500)
    handle = _handle(client, workflow_id)
    deal_id = await _deal_of(handle)
    move_deal(settings, deal_id, "closed_won")
    await wait_for(lambda: _stage(handle, "awaiting_approval"), what="the discount approval")
    assert (await decide(client, SAM, workflow_id, Decision.APPROVE, "strategic")).accepted

    envelope_id = await _envelope_of(handle)

    [envelope] = _records(admin, "esign", "envelope", external_ref=form["lead_id"])
    assert envelope["id"] == envelope_id and envelope["status"] == "sent"
    [approval] = (await status(handle)).approvals
    assert (approval.status, approval.decided_by) == ("approved", "sam")


async def test_a_cancel_after_closed_won_voids_the_contract_and_puts_the_deal_back(
    client, settings, admin, stack
):
    workflow_id, form = await _start(stack)
    handle = _handle(client, workflow_id)
    deal_id = await _deal_of(handle)
    move_deal(settings, deal_id, "negotiation")
    move_deal(settings, deal_id, "closed_won")
    await _envelope_of(handle)

    await handle.cancel()

    with pytest.raises(WorkflowFailureError) as ended:
        await result_of(handle)
    assert isinstance(ended.value.cause, CancelledError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    envelopes = _records(admin, "esign", "envelope", external_ref=form["lead_id"])
    assert [e["status"] for e in envelopes] == ["voided"]
    [deal] = _records(admin, "crm", "deal", external_ref=form["lead_id"])
    assert deal["status"] == "negotiation"
    assert any("not completed" in n["text"] for n in deal["data"]["notes"])
    assert (await status(handle)).outcome == "cancelled"


async def test_unavailable_enrichment_is_noted_and_the_run_goes_on(client, admin, stack):
    domain = lead_form()["domain"]
    admin.put(
        "/_admin/faults/enrichment",
        json={"status": 422, "code": "REFUSED_BY_TEST", "path": f"/companies/{domain}$"},
    ).raise_for_status()
    workflow_id, form = await _start(stack, domain=domain)
    handle = _handle(client, workflow_id)

    deal_id = await _deal_of(handle)

    assert await _step(handle, "enrichment unavailable ") == "(REFUSED_BY_TEST)"
    assert [d["id"] for d in _records(admin, "crm", "deal", external_ref=form["lead_id"])] == [
        deal_id
    ]


async def test_a_voided_child_invoice_ends_the_run_without_onboarding(
    client, settings, admin, stack
):
    workflow_id, form = await _start(stack)
    handle = _handle(client, workflow_id)
    deal_id = await _deal_of(handle)
    move_deal(settings, deal_id, "closed_won")
    sign_envelope(settings, await _envelope_of(handle))
    child = await wait_for(lambda: _step(handle, "invoice workflow "), what="the child invoice")
    await wait_for(
        lambda: stage_in(client.get_workflow_handle(child), "awaiting_payment"),
        what="the invoice to be sent",
    )

    voided = await void_invoice(
        client, FIONA, child.removeprefix(INVOICE_ID_PREFIX), "deal cancelled"
    )
    assert voided.accepted, voided
    result = await result_of(handle)

    assert result.outcome == "invoice_void"
    assert _records(admin, "portal", "account", external_ref=form["lead_id"]) == []
    assert Ledger(admin).emails(form["lead_id"], "customer-welcome") == []


async def test_a_cancel_in_the_same_workflow_task_as_the_signature_undoes_nothing(
    client, settings, admin, stack
):
    """The customer signs while an operator cancels: both reach the run in one workflow task
    (its worker is away while they arrive). The signature is applied first and is the point of
    no return: the run ends cancelled, the signed contract stands, the deal stays won, nothing
    is undone."""
    form = lead_form()
    workflow_id = lead_to_cash_id(form["lead_id"])
    queue = f"lead-to-cash-edge-{uuid.uuid4().hex[:8]}"
    inp = LeadToCashInput(form=LeadForm.model_validate(form), policy=settings.lead_policy())

    async with _private_worker(client, settings, queue):
        handle = await client.start_workflow(
            LEAD_TO_CASH, inp, id=workflow_id, task_queue=queue, result_type=LeadToCashResult
        )
        deal_id = await _deal_of(handle)
        move_deal(settings, deal_id, "closed_won")
        envelope_id = await _envelope_of(handle)

    # Nobody runs the workflow now: the signature's webhook and the cancel wait in its history.
    assert sign_envelope(settings, envelope_id) == "completed"
    await wait_for(
        lambda: _signalled(handle, CONTRACT_SIGNED_SIGNAL), what="the signature's signal"
    )
    await handle.cancel()

    async with _private_worker(client, settings, queue):  # also answers the status query
        with pytest.raises(WorkflowFailureError) as ended:
            await result_of(handle)
        final = await status(handle)

    assert isinstance(ended.value.cause, CancelledError)
    assert final.outcome == "cancelled" and final.compensations == []
    assert any(step.startswith("contract signed") for step in final.steps_done)
    [envelope] = _records(admin, "esign", "envelope", external_ref=form["lead_id"])
    assert envelope["status"] == "completed"
    [deal] = _records(admin, "crm", "deal", external_ref=form["lead_id"])
    assert deal["status"] == "closed_won"


def _private_worker(client, settings, queue: str):
    """A worker of the stack's deployment version for LeadToCash on a queue of the test's own."""
    return workflow_worker(
        client,
        settings,
        task_queue=queue,
        workflows=[LeadToCash],
        deployment=deployment_config(settings),
    )


async def _signalled(handle, name: str) -> bool:
    async for event in handle.fetch_history_events():
        signalled = event.workflow_execution_signaled_event_attributes
        if event.HasField("workflow_execution_signaled_event_attributes") and (
            signalled.signal_name == name
        ):
            return True
    return False
