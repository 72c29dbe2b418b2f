"""The review queue (issue 22): a run that meets a failure no retry or compensation can finish
waits for operations instead of failing (`Stage` = attention_needed, the step, its code and
what was done in `status`), and people with the operations role decide it (retry, skip,
compensate) through the approval gate's update: from the CLI, the HTTP API and the Python
starters alike; what breaks a rule is refused and changes nothing."""

import json
from typing import Any

import httpx
import pytest

from domain.approvals import (
    ApprovalKind,
    ApprovalStatus,
    Decision,
    Resolution,
    RuleViolation,
)
from domain.contract import (
    APPROVER_ROLE,
    INVOICE_ID_PREFIX,
    STAGE,
    lead_to_cash_id,
)
from domain.status import WorkflowStatus
from starters.approvals import decide
from starters.directory import Approver
from starters.sandbox_actions import move_deal, sign_envelope
from tests.helpers import (
    Ledger,
    audit_rows,
    current_details,
    failure_of,
    fault_for_run,
    result_of,
    status,
    vendor_whose_compensation_fails,
    wait_for,
)
from tests.invoicing import pay
from tests.test_cli import backoffice
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
    lead_form,
)

pytestmark = pytest.mark.timeout(300)

OMAR = Approver(id="omar", name="Omar", email="omar@company.example", roles=["operations"])
SAM = Approver(id="sam", name="Sam", email="sam@company.example", roles=["sales-manager"])
REFUSED = {"status": 422, "code": "REFUSED_BY_TEST", "method": "POST", "count": 1}


async def _waiting_item(handle) -> WorkflowStatus | None:
    """The run's status once it waits in the review queue (None before)."""
    now = await status(handle)
    pending = now.pending_approval
    if pending is not None and pending.request.kind == ApprovalKind.ATTENTION:
        return now
    return None


async def _in_review(handle) -> WorkflowStatus:
    try:
        found: WorkflowStatus = await wait_for(
            lambda: _waiting_item(handle), what="the review item"
        )
    except AssertionError:
        now = await status(handle)
        raise AssertionError(
            f"{handle.id} never waited for review: stage {now.stage}, outcome {now.outcome}, "
            f"problem {now.problem}, steps {now.steps_done}, undone {now.compensations}"
        ) from None
    return found


async def _signed_lead(client, settings, stack, **form: Any):
    workflow_id, sent = await _start(stack, **form)
    handle = _handle(client, workflow_id)
    move_deal(settings, await _deal_of(handle), "closed_won")
    sign_envelope(settings, await _envelope_of(handle))
    return handle, sent


async def _paid(client, admin, handle) -> None:
    child_id = await wait_for(lambda: _step(handle, "invoice workflow "), what="the child")
    child = client.get_workflow_handle(child_id)
    await wait_for(lambda: _stage(child, "awaiting_payment"), what="the invoice to be sent")
    number = child_id.removeprefix(INVOICE_ID_PREFIX)
    pay(admin, number, SEATS * PRICE + SEATS * PRICE * TAX_BP // 10_000)


def _decision_rows(settings, workflow_id: str) -> list[tuple[str, str | None]]:
    return [
        (row.path, row.request_summary)
        for row in audit_rows(settings, workflow_id)
        if row.system == "review-queue"
    ]


async def test_a_refused_step_after_the_signature_waits_then_a_retry_finishes_the_run(
    client, settings, admin, stack, cli_env
):
    lead_id = lead_form()["lead_id"]
    workflow_id = lead_to_cash_id(lead_id)
    fault_for_run(admin, "crm", workflow_id, REFUSED | {"path": "/accounts$"})
    handle, form = await _signed_lead(client, settings, stack, lead_id=lead_id)

    waiting = await _in_review(handle)
    item = waiting.pending_approval
    assert item is not None
    assert (waiting.stage, item.request.step) == ("creating_customer", "create the CRM account")
    assert item.request.error_code == "REFUSED_BY_TEST"
    assert item.request.actions == [Resolution.RETRY, Resolution.COMPENSATE]  # no skip: needed
    assert item.allowed_roles == ["operations"]
    assert (
        waiting.attention and "create the CRM account failed (REFUSED_BY_TEST)" in waiting.attention
    )
    assert "contract signed" in item.request.reason  # what was done so far
    assert (await handle.describe()).search_attributes.get(STAGE.name) == ["attention_needed"]
    listed = backoffice("attention", env=cli_env)
    assert listed.returncode == 0, listed.stderr
    [line] = [row for row in listed.stdout.splitlines() if workflow_id in row]
    assert "create the CRM account" in line and "REFUSED_BY_TEST" in line
    assert "retry|compensate" in line
    # An approval list does not show it; the review queue's does.
    approvals = backoffice("approvals", "--json", env=cli_env)
    assert workflow_id not in approvals.stdout

    # What breaks a rule is refused, says which, and changes nothing.
    wrong_role = await decide(client, SAM, workflow_id, Resolution.RETRY, "let me")
    assert (wrong_role.accepted, wrong_role.code) == (False, RuleViolation.WRONG_ROLE.value)
    wrong_action = await decide(client, OMAR, workflow_id, Decision.APPROVE)
    assert (wrong_action.accepted, wrong_action.code) == (False, "WRONG_ACTION")
    assert "retry, compensate" in wrong_action.reason
    not_offered = await decide(client, OMAR, workflow_id, Resolution.SKIP, "done by hand")
    assert (not_offered.accepted, not_offered.code) == (False, "WRONG_ACTION")
    unknown = backoffice("attention", "frobnicate", workflow_id, "--as", "omar", env=cli_env)
    assert unknown.returncode == 2 and "frobnicate" in unknown.stderr
    still = await status(handle)
    assert still.pending_approval and still.pending_approval.status == ApprovalStatus.PENDING
    assert not [d for d in still.decisions if d.accepted]
    assert _records(admin, "crm", "account", domain=form["domain"]) == []
    assert _decision_rows(settings, workflow_id) == []

    retried = await decide(client, OMAR, workflow_id, Resolution.RETRY, "fixed the CRM's data")
    assert retried.accepted and retried.status == ApprovalStatus.RESOLVED.value
    await _paid(client, admin, handle)
    result = await result_of(handle)
    assert result.outcome == "won"
    final = await status(handle)
    assert "create the CRM account: retry by omar (fixed the CRM's data)" in final.steps_done
    assert final.attention is None
    [account] = _records(admin, "crm", "account", domain=form["domain"])
    assert account["id"] == result.crm_account_id
    assert _decision_rows(settings, workflow_id) == [
        ("/attention-1/retry", "by omar, with a comment")
    ]
    updates = [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in (await handle.fetch_history()).events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    # Sam's (refused by the rules, recorded) and omar's; the validator's refusals left no trace.
    assert updates == ["decide", "decide"]
    # A run that no longer waits takes no new decision, and says why (the same decision sent
    # again is the same update: answered as before, recorded once).
    late = await decide(client, OMAR, workflow_id, Resolution.COMPENSATE, "end it", "attention-1")
    assert (late.accepted, late.code, late.status) == (False, "ALREADY_DECIDED", "resolved")
    again = backoffice("attention", "retry", workflow_id, "--as", "omar", env=cli_env)
    assert again.returncode == 1 and "no pending approval" in again.stderr
    assert len(_decision_rows(settings, workflow_id)) == 1


async def test_a_skipped_step_goes_on_without_it_and_keeps_who_and_why(
    client, settings, admin, stack, cli_env
):
    lead_id = lead_form()["lead_id"]
    workflow_id = lead_to_cash_id(lead_id)
    fault_for_run(admin, "portal", workflow_id, REFUSED | {"path": "/accounts$"})
    handle, form = await _signed_lead(client, settings, stack, lead_id=lead_id)
    await _paid(client, admin, handle)

    waiting = await _in_review(handle)
    assert waiting.pending_approval is not None
    assert waiting.pending_approval.request.step == "create the portal account"
    assert waiting.pending_approval.request.actions == list(Resolution)
    no_reason = backoffice("attention", "skip", workflow_id, "--as", "omar", env=cli_env)
    assert no_reason.returncode == 1
    assert "REASON_REQUIRED" in no_reason.stderr and "comment" in no_reason.stderr
    why = "created by hand in the portal"
    skipped = backoffice(
        "attention", "skip", workflow_id, "--as", "omar", "--comment", why, env=cli_env
    )
    assert skipped.returncode == 0, skipped.stderr
    assert "status resolved" in skipped.stdout

    result = await result_of(handle)
    assert result.outcome == "won" and result.portal_account_id is None
    assert _records(admin, "portal", "account", external_ref=form["lead_id"]) == []
    final = await status(handle)
    assert f"create the portal account: skip by omar ({why})" in final.steps_done
    [accepted] = [d for d in final.decisions if d.accepted]
    assert (accepted.approver, accepted.decision, accepted.comment) == ("omar", "skip", why)
    assert accepted.operator and "@" in accepted.operator  # the CLI's user, beside omar
    [(path, summary)] = _decision_rows(settings, workflow_id)
    assert path == "/attention-1/skip" and summary and summary.startswith("by omar, sent by ")


async def test_compensate_ends_the_run_and_undoes_nothing_signed(client, settings, admin, stack):
    lead_id = lead_form()["lead_id"]
    workflow_id = lead_to_cash_id(lead_id)
    fault_for_run(admin, "crm", workflow_id, REFUSED | {"path": "/accounts$"})
    handle, form = await _signed_lead(client, settings, stack, lead_id=lead_id)
    waiting = await _in_review(handle)
    assert waiting.pending_approval is not None
    item_id = waiting.pending_approval.request.approval_id
    password = stack.credentials()["approvers"]["omar"]
    service = stack.credentials()["api_clients"]["svc-onboarding"]
    path = f"/v1/approvals/{workflow_id}/{item_id}"
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as api:
        as_service = await api.post(
            path,
            json={"decision": "compensate"},
            headers={"Authorization": f"Bearer {service}"},
        )
        assert as_service.status_code == 403, as_service.text
        unknown = await api.post(path, json={"decision": "undo"}, auth=("omar", password))
        assert unknown.status_code == 422 and "decision" in unknown.text
        wrong = await api.post(path, json={"decision": "approve"}, auth=("omar", password))
        assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "WRONG_ACTION"
        assert (await _waiting_item(handle)) is not None  # nothing changed
        ended = await api.post(
            path,
            json={"decision": "compensate", "comment": "the customer withdrew"},
            auth=("omar", password),
        )
        assert ended.status_code == 200, ended.text
        assert ended.json()["status"] == "resolved"

    error = await failure_of(handle)
    assert error.type == "ENDED_BY_OPERATIONS"
    assert "create the CRM account" in error.message and "undone: nothing" in error.message
    final = await status(handle)
    assert (final.stage, final.outcome) == ("ended_by_operations", "ended_by_operations")
    described = await handle.describe()
    assert described.search_attributes.get(STAGE.name) == ["ended_by_operations"]
    envelopes = _records(admin, "esign", "envelope", external_ref=form["lead_id"])
    assert [e["status"] for e in envelopes] == ["completed"]  # the signed contract stands
    [deal] = _records(admin, "crm", "deal", external_ref=form["lead_id"])
    assert deal["status"] == "closed_won"
    assert _records(admin, "crm", "account", domain=form["domain"]) == []
    assert _decision_rows(settings, workflow_id) == [
        (f"/{item_id}/compensate", "by omar, with a comment")
    ]


async def test_a_compensation_that_keeps_failing_waits_and_a_retry_finishes_it(
    client, settings, admin, stack, cli_env
):
    handle = await vendor_whose_compensation_fails(client, settings, admin)
    workflow_id = handle.id
    application_id = workflow_id.removeprefix("vendor-onboarding-")
    waiting = await _in_review(handle)
    assert waiting.stage == "compensating"
    item = waiting.pending_approval
    assert item is not None and item.request.step == "compensation: deactivate vendor"
    assert item.request.error_code == "COMPENSATION_FAILED"
    assert item.request.actions == [Resolution.RETRY, Resolution.SKIP]
    assert waiting.problem and "deactivate vendor" in waiting.problem
    listed = json.loads(backoffice("attention", "--json", env=cli_env).stdout)
    [mine] = [v for v in listed if v["workflow_id"] == workflow_id]
    assert (mine["kind"], mine["step"]) == ("attention", "compensation: deactivate vendor")
    details = await current_details(handle)
    assert (
        "Needs attention (review queue):** compensation: deactivate vendor failed "
        "(COMPENSATION_FAILED)" in details
    )
    # `approve` is no decision for a review item.
    approved = backoffice("approve", workflow_id, "--as", "olga", env=cli_env)
    assert approved.returncode == 1 and "WRONG_ACTION" in approved.stderr
    # The approval gate's reminder and escalation, by email (no approve/reject links in them).
    await wait_for(
        lambda: Ledger(admin).emails(application_id, "attention-escalation"),
        timeout=60,
        what="the escalation email",
    )
    ledger = Ledger(admin)
    assert len(ledger.emails(application_id, "attention-request")) == 1  # omar
    assert len(ledger.emails(application_id, "attention-reminder")) == 1
    assert len(ledger.emails(application_id, "attention-escalation")) == 1  # opal
    escalated = (await status(handle)).pending_approval
    assert escalated is not None and escalated.escalation_level == 1
    assert escalated.allowed_roles == ["operations", "operations-lead"]
    described = await handle.describe()
    assert described.search_attributes.get(APPROVER_ROLE.name) == ["operations-lead"]

    retried = backoffice("attention", "retry", workflow_id, "--as", "omar", env=cli_env)
    assert retried.returncode == 0, retried.stderr
    error = await failure_of(handle)
    assert error.type == "REFUSED_BY_TEST"
    final = await status(handle)
    assert final.stage == "compensated"
    assert [c for c in final.compensations if c.startswith("deactivated vendor")]
    assert not [c for c in final.compensations if c.startswith("FAILED")]
    vendors = _records(admin, "erp", "vendor", external_ref=application_id)
    assert [v["status"] for v in vendors] == ["inactive"]
    [accepted] = [d for d in final.decisions if d.accepted]
    assert (accepted.approver, accepted.decision) == ("omar", "retry")
    assert _decision_rows(settings, workflow_id) == [
        ("/attention-1/retry", f"by omar, sent by {accepted.operator}")
    ]
