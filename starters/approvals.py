"""Listing pending approvals and deciding them: the one code path of the CLI (and later the API)."""

from datetime import datetime

from pydantic import BaseModel
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.approvals import DecideInput, DecideResult, Decision, RuleViolation
from domain.status import WorkflowStatus
from runtime.settings import Settings
from starters.directory import Approver
from starters.start import web_ui_url


class PendingApprovalView(BaseModel):
    """What an approver needs to decide, without opening the run."""

    workflow_id: str
    process: str
    business_key: str
    approval_id: str
    allowed_roles: list[str]
    escalation_level: int
    requested_by: str
    reason: str
    amount_cents: int | None
    currency: str | None
    counterparty: str | None
    opened_at: datetime
    due_at: datetime
    web_ui_url: str


class DecisionOutcome(BaseModel):
    accepted: bool
    code: str | None = None
    reason: str
    status: str | None = None


class WorkflowNotFound(Exception):
    """No workflow with that id."""


async def workflow_status(client: Client, workflow_id: str) -> WorkflowStatus:
    try:
        status: WorkflowStatus = await client.get_workflow_handle(workflow_id).query(
            "status", result_type=WorkflowStatus
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise WorkflowNotFound(f"no workflow '{workflow_id}'") from None
        raise
    return status


async def pending_approvals(
    client: Client, settings: Settings, role: str | None = None
) -> list[PendingApprovalView]:
    """Every pending approval (from visibility), optionally only those `role` may decide."""
    views = []
    async for execution in client.list_workflows('ApprovalStatus = "pending"'):
        try:
            status = await workflow_status(client, execution.id)
        except (WorkflowNotFound, RPCError):
            continue  # closed between the listing and the query
        pending = status.pending_approval
        if pending is None or (role and role not in pending.allowed_roles):
            continue
        request = pending.request
        views.append(
            PendingApprovalView(
                workflow_id=execution.id,
                process=status.process,
                business_key=status.business_key,
                approval_id=request.approval_id,
                allowed_roles=pending.allowed_roles,
                escalation_level=pending.escalation_level,
                requested_by=request.requested_by,
                reason=request.reason,
                amount_cents=request.amount_cents,
                currency=request.currency,
                counterparty=request.counterparty,
                opened_at=pending.opened_at,
                due_at=pending.due_at,
                web_ui_url=web_ui_url(settings, client.namespace, execution.id),
            )
        )
    return sorted(views, key=lambda v: v.opened_at)


async def decide(
    client: Client,
    approver: Approver,
    workflow_id: str,
    decision: Decision,
    comment: str = "",
    approval_id: str | None = None,
) -> DecisionOutcome:
    """Send the decision through the validated update; say whether it was accepted and why not."""
    if approval_id is None:
        pending = (await workflow_status(client, workflow_id)).pending_approval
        if pending is None:
            return DecisionOutcome(
                accepted=False,
                code=RuleViolation.UNKNOWN_APPROVAL.value,
                reason=f"workflow '{workflow_id}' has no pending approval",
            )
        approval_id = pending.request.approval_id
    handle = client.get_workflow_handle(workflow_id)
    try:
        result = await handle.execute_update(
            "decide",
            DecideInput(
                approval_id=approval_id,
                decision=decision,
                approver=approver.id,
                approver_roles=approver.roles,
                comment=comment,
            ),
            result_type=DecideResult,
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            return DecisionOutcome(accepted=False, code=cause.type, reason=cause.message)
        raise
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return DecisionOutcome(
                accepted=False,
                code="WORKFLOW_CLOSED",
                reason=f"workflow '{workflow_id}' is not running",
            )
        raise
    return DecisionOutcome(
        accepted=True,
        reason=f"{decision.value} recorded for approval '{approval_id}'",
        status=result.status.value,
    )
