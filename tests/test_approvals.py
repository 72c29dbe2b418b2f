"""The approval gate through every door: validated update, raw signals, timers, the CLI rules."""

import asyncio
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from domain.approvals import (
    ApprovalStatus,
    DecideInput,
    Decision,
    RuleViolation,
    SignalDecisionInput,
)
from domain.contract import (
    APPROVAL_STATUS,
    APPROVE_SIGNAL,
    APPROVER_ROLE,
    DECIDE_UPDATE,
    REJECT_SIGNAL,
    VENDOR_ONBOARDING_ID_PREFIX,
)
from starters.approvals import DecisionUnconfirmed, decide, pending_approvals
from starters.directory import Approver
from tests.helpers import Ledger, failure_of, patient, result_of, start, status, wait_for

PAT = Approver(id="pat", name="Pat", email="pat@company.example", roles=["procurement"])
LENA = Approver(id="lena", name="Lena", email="lena@company.example", roles=["procurement-lead"])
# A contractor with net15 terms waits for procurement's risk review.
CONTRACTOR = {"vendor_type": "contractor", "payment_terms": "net15"}
FIONA = Approver(id="fiona", name="Fiona", email="fiona@company.example", roles=["finance"])


async def _pending(handle):
    return await wait_for(lambda: _pending_id(handle), timeout=30, what="the approval to open")


async def _pending_id(handle):
    pending = (await status(handle)).pending_approval
    return pending.request.approval_id if pending else None


async def _refusal(handle, approver: Approver, approval_id: str, decision=Decision.APPROVE) -> str:
    try:
        await handle.execute_update(
            DECIDE_UPDATE,
            DecideInput(
                approval_id=approval_id,
                decision=decision,
                approver=approver.id,
                approver_roles=approver.roles,
            ),
        )
    except WorkflowUpdateFailedError as exc:
        assert isinstance(exc.cause, ApplicationError)
        return str(exc.cause.type)
    raise AssertionError("the update was accepted")


async def test_contractor_waits_for_procurement_and_completes_when_approved(
    client, settings, admin
):
    handle = await start(client, patient(settings), vendor_type="contractor", payment_terms="net15")
    approval_id = await _pending(handle)
    assert (await handle.describe()).search_attributes.get(APPROVAL_STATUS.name) == ["pending"]
    # The list is read from visibility, which follows the run's state a moment later.
    await wait_for(
        lambda: _listed(client, settings, "procurement", handle.id), what="the run in the list"
    )
    assert handle.id not in [
        v.workflow_id for v in await pending_approvals(client, settings, "finance")
    ]

    outcome = await decide(client, PAT, handle.id, Decision.APPROVE, "checked the contract")
    assert outcome.accepted, outcome
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.approval == "approved by pat"
    assert approval_id == "risk-review"
    key = result.application_id
    assert len(Ledger(admin).emails(key, "approval-request")) == 2  # pat and olga hold procurement


async def test_high_risk_country_needs_approval_and_rejection_compensates(client, settings, admin):
    handle = await start(client, patient(settings), country="IR", tax_id="IR12345678")
    await _pending(handle)
    outcome = await decide(client, PAT, handle.id, Decision.REJECT, "sanctions screening failed")
    assert outcome.accepted
    error = await failure_of(handle)
    assert error.type == "APPROVAL_REJECTED"
    assert "approval rejected" in error.message and "cancellation email" in error.message
    key = handle.id.removeprefix(VENDOR_ONBOARDING_ID_PREFIX)
    ledger = Ledger(admin)
    assert ledger.of(key, "vendor") == [] and ledger.of(key, "portal_account") == []
    assert len(ledger.emails(key, "vendor-cancellation")) == 1
    assert (await handle.describe()).search_attributes.get(APPROVAL_STATUS.name) == ["rejected"]


async def test_each_broken_rule_is_refused_recorded_and_decides_nothing(client, settings):
    # Hour-long approval windows: lena holds the escalation role, and it must not escalate.
    handle = await start(
        client,
        patient(settings),
        vendor_type="contractor",
        payment_terms="net15",
        requested_by="pat",
    )
    approval_id = await _pending(handle)
    assert await _refusal(handle, FIONA, approval_id) == RuleViolation.WRONG_ROLE
    assert await _refusal(handle, PAT, approval_id) == RuleViolation.SELF_APPROVAL
    assert (
        await _refusal(handle, LENA, approval_id) == RuleViolation.WRONG_ROLE
    )  # not escalated yet
    olga = Approver(
        id="olga", name="Olga", email="olga@company.example", roles=["procurement", "finance"]
    )
    assert await _refusal(handle, olga, "no-such-approval") == RuleViolation.UNKNOWN_APPROVAL
    current = await status(handle)
    assert current.pending_approval is not None
    # Refused at once, and recorded beside the decisions, as a refused signal is.
    assert [(d.approver, d.accepted, d.refused_because, d.channel) for d in current.decisions] == [
        ("fiona", False, RuleViolation.WRONG_ROLE, "update"),
        ("pat", False, RuleViolation.SELF_APPROVAL, "update"),
        ("lena", False, RuleViolation.WRONG_ROLE, "update"),
        ("olga", False, RuleViolation.UNKNOWN_APPROVAL, "update"),
    ]

    assert (await decide(client, olga, handle.id, Decision.APPROVE)).accepted
    assert (
        await _refusal(handle, olga, approval_id, Decision.REJECT) == RuleViolation.ALREADY_DECIDED
    )
    await result_of(handle)
    cli_outcome = await decide(client, olga, handle.id, Decision.REJECT, approval_id=approval_id)
    assert not cli_outcome.accepted


async def test_signals_breaking_the_rules_are_recorded_and_ignored(client, settings):
    handle = await start(
        client,
        patient(settings),
        vendor_type="contractor",
        payment_terms="net15",
        requested_by="pat",
    )
    approval_id = await _pending(handle)
    for approver, roles in (("fiona", ["finance"]), ("pat", ["procurement"])):
        await handle.signal(
            APPROVE_SIGNAL,
            SignalDecisionInput(approval_id=approval_id, approver=approver, approver_roles=roles),
        )
    await handle.signal(
        REJECT_SIGNAL,
        SignalDecisionInput(approval_id="bogus", approver="olga", approver_roles=["procurement"]),
    )
    decisions = await wait_for(
        lambda: _decisions(handle, 3), timeout=20, what="three recorded decisions"
    )
    assert [(d.approver, d.accepted, d.refused_because) for d in decisions] == [
        ("fiona", False, RuleViolation.WRONG_ROLE),
        ("pat", False, RuleViolation.SELF_APPROVAL),
        ("olga", False, RuleViolation.UNKNOWN_APPROVAL),
    ]
    assert (await status(handle)).pending_approval is not None
    await handle.signal(
        APPROVE_SIGNAL,
        SignalDecisionInput(
            approval_id=approval_id, approver="olga", approver_roles=["procurement"]
        ),
    )
    await handle.signal(
        REJECT_SIGNAL,
        SignalDecisionInput(
            approval_id=approval_id, approver="pat2", approver_roles=["procurement"]
        ),
    )
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.approval == "approved by olga"
    final = (await status(handle)).decisions
    assert [(d.approver, d.accepted) for d in final[3:]] == [("olga", True), ("pat2", False)]
    assert final[4].refused_because == RuleViolation.ALREADY_DECIDED


async def _listed(client, settings, role: str, workflow_id: str) -> bool:
    return workflow_id in [v.workflow_id for v in await pending_approvals(client, settings, role)]


async def _decisions(handle, n):
    decisions = (await status(handle)).decisions
    return decisions if len(decisions) >= n else None


async def test_timeout_reminds_then_escalates_and_the_escalation_role_can_approve(
    client, settings, admin
):
    handle = await start(client, settings, vendor_type="contractor", payment_terms="net15")
    approval_id = await _pending(handle)
    key = handle.id.removeprefix(VENDOR_ONBOARDING_ID_PREFIX)
    await wait_for(lambda: _escalated(handle), timeout=30, what="escalation to procurement-lead")
    # The run shows the escalation before its email activity has sent the email.
    await wait_for(
        lambda: Ledger(admin).emails(key, "approval-escalation"),
        timeout=30,
        what="the escalation email",
    )
    ledger = Ledger(admin)
    assert len(ledger.emails(key, "approval-reminder")) == 2
    assert len(ledger.emails(key, "approval-escalation")) == 1  # lena
    assert (await handle.describe()).search_attributes.get(APPROVER_ROLE.name) == [
        "procurement-lead"
    ]
    assert (
        await decide(client, LENA, handle.id, Decision.APPROVE, approval_id=approval_id)
    ).accepted
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.approval == "approved by lena"


async def _escalated(handle):
    pending = (await status(handle)).pending_approval
    return pending is not None and pending.escalation_level == 1


async def test_final_expiry_compensates(client, settings, admin):
    handle = await start(client, settings, vendor_type="contractor", payment_terms="net15")
    error = await failure_of(handle)
    assert error.type == "APPROVAL_EXPIRED"
    final = await status(handle)
    assert final.approvals[0].status == ApprovalStatus.EXPIRED
    key = handle.id.removeprefix(VENDOR_ONBOARDING_ID_PREFIX)
    assert len(Ledger(admin).emails(key, "vendor-cancellation")) == 1
    assert (await handle.describe()).search_attributes.get(APPROVAL_STATUS.name) == ["expired"]


async def _accepted_updates(handle) -> int:
    accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    return sum(1 for e in (await handle.fetch_history()).events if e.event_type == accepted)


async def test_the_same_decision_sent_twice_is_recorded_once(client, settings):
    """A person (or a client retrying) sends the same decision again: the same update, once."""
    handle = await start(client, patient(settings), vendor_type="contractor", payment_terms="net15")
    approval_id = await _pending(handle)
    first = await decide(client, PAT, handle.id, Decision.APPROVE, "looks fine", approval_id)
    again = await decide(client, PAT, handle.id, Decision.APPROVE, "looks fine", approval_id)
    assert first.accepted and again.accepted and again.status == first.status == "approved"
    await asyncio.wait_for(handle.result(), 60)
    decisions = (await status(handle)).decisions
    assert [(d.approver, d.accepted) for d in decisions] == [("pat", True)]
    assert await _accepted_updates(handle) == 1
    ids = [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
        for e in (await handle.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]
    assert ids[0].startswith(f"decide/{approval_id}/approve/") and "pat" not in ids[0]


async def test_a_decision_not_confirmed_in_time_says_so_and_can_be_sent_again(client, settings):
    """Temporal does not confirm in time (here: a deadline too short for any answer): the caller
    is told it may or may not be recorded; sending it again records it exactly once."""
    handle = await start(client, patient(settings), vendor_type="contractor", payment_terms="net15")
    approval_id = await _pending(handle)
    with pytest.raises(DecisionUnconfirmed) as raised:
        await decide(
            client, PAT, handle.id, Decision.APPROVE, rpc_timeout=timedelta(microseconds=1)
        )
    assert handle.id in str(raised.value) and approval_id in str(raised.value)
    assert "send it again" in str(raised.value)
    outcome = await decide(client, PAT, handle.id, Decision.APPROVE, approval_id=approval_id)
    assert outcome.accepted, outcome
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.approval == "approved by pat"
    assert await _accepted_updates(handle) == 1
