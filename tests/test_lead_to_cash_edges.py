"""LeadToCash at its edges, on the real stack: an approved discount, a cancel after
`closed_won` (before the signature: undone), enrichment that is unavailable (the run goes on)."""

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError

from domain.approvals import Decision
from starters.approvals import decide
from starters.sandbox_actions import move_deal
from tests.helpers import result_of, status, wait_for
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
