"""Who decides is checked against the approver directory, whatever door the decision comes
through: roles claimed in a raw `temporal workflow signal` or `update execute` are ignored, and
the four-eyes rule compares the requester with the approver's id and email alike."""

import asyncio
import json
import subprocess
from datetime import timedelta

from devstack.temporal_cli import find_temporal_cli
from domain.approvals import Decision, RuleViolation
from domain.contract import LEAD_TO_CASH, lead_to_cash_id
from domain.lead import LeadForm, LeadToCashInput, LeadToCashResult
from domain.systems import WORKFLOW_TASK_QUEUE
from starters.approvals import decide
from starters.directory import Approver
from starters.sandbox_actions import move_deal
from tests.helpers import start, status, wait_for
from tests.test_lead_to_cash import _deal_of, lead_form

SAM = Approver(id="sam", name="Sam", email="sam@company.example", roles=["sales-manager"])


def temporal(stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(find_temporal_cli()), *args, "--address", stack.temporal_address],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _pending_id(handle) -> str | None:
    pending = (await status(handle)).pending_approval
    return pending.request.approval_id if pending else None


async def _decisions(handle, n: int):
    decisions = (await status(handle)).decisions
    return decisions if len(decisions) >= n else None


async def test_roles_claimed_through_raw_temporal_are_not_believed(client, settings, stack):
    # A contractor waits for procurement; fiona is finance, mallory is in no directory.
    handle = await start(client, settings, vendor_type="contractor", payment_terms="net15")
    approval_id = await wait_for(lambda: _pending_id(handle), what="the approval")
    claim = {"approval_id": approval_id, "approver_roles": ["procurement"], "comment": "trust me"}

    signalled = temporal(
        stack, "workflow", "signal", "--workflow-id", handle.id, "--name", "approve",
        "--input", json.dumps({**claim, "approver": "fiona"}),
    )  # fmt: skip
    assert signalled.returncode == 0, signalled.stderr
    updated = temporal(
        stack, "workflow", "update", "execute", "--workflow-id", handle.id, "--name", "decide",
        "--input", json.dumps({**claim, "approver": "mallory", "decision": "approve"}),
    )  # fmt: skip
    assert updated.returncode != 0
    assert "WRONG_ROLE" in updated.stdout + updated.stderr

    decisions = await wait_for(lambda: _decisions(handle, 2), what="both refusals recorded")
    assert [(d.approver, d.accepted, d.refused_because, d.channel) for d in decisions] == [
        ("fiona", False, RuleViolation.WRONG_ROLE, "signal"),
        ("mallory", False, RuleViolation.WRONG_ROLE, "update"),
    ]
    assert (await status(handle)).pending_approval is not None

    # pat really holds procurement, whatever the call claims (here: nothing).
    by_pat = temporal(
        stack, "workflow", "signal", "--workflow-id", handle.id, "--name", "approve",
        "--input", json.dumps({"approval_id": approval_id, "approver": "pat"}),
    )  # fmt: skip
    assert by_pat.returncode == 0, by_pat.stderr
    await asyncio.wait_for(handle.result(), 60)
    assert (await status(handle)).decisions[-1].approver == "pat"


async def test_a_sales_manager_who_owns_the_deal_cannot_approve_its_discount(
    client, settings, stack
):
    # sam is the deal's owner (recorded by email) and a sales manager (a directory id).
    form = LeadForm.model_validate(lead_form(requested_discount_bp=2500))
    policy = settings.lead_policy().model_copy(
        update={"sales_reps": [SAM.email], "owner_reminder_after": timedelta(minutes=5)}
    )
    handle = await client.start_workflow(
        LEAD_TO_CASH,
        LeadToCashInput(form=form, policy=policy),
        id=lead_to_cash_id(form.lead_id),
        task_queue=WORKFLOW_TASK_QUEUE,
        result_type=LeadToCashResult,
    )
    deal = await wait_for(lambda: status(handle), what="the run")
    assert deal is not None

    move_deal(settings, await _deal_of(handle), "closed_won")
    await wait_for(lambda: _pending_id(handle), what="the discount approval")
    outcome = await decide(client, SAM, handle.id, Decision.APPROVE, "my own deal")
    assert not outcome.accepted and outcome.code == RuleViolation.SELF_APPROVAL
    await handle.terminate("test over")
