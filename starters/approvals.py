"""Listing pending approvals and deciding them: the one code path of the CLI and the HTTP API."""

import asyncio
import base64
import hashlib
import logging
import os
import pwd
import re
import socket
from collections.abc import Collection
from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.approvals import (
    ApprovalKind,
    ApprovalRecord,
    ApprovalStatus,
    DecideInput,
    DecideResult,
    Resolution,
    RuleViolation,
    Verdict,
)
from domain.contract import APPROVAL_STATUS, APPROVER_ROLE, DECIDE_UPDATE, STATUS_QUERY
from domain.status import WorkflowStatus
from runtime.settings import Settings
from starters.directory import Approver
from starters.start import web_ui_url

log = logging.getLogger(__name__)


class DecisionUnconfirmed(Exception):
    """Temporal did not confirm a decision in time (a busy server, or a run waiting for a worker
    to pick it up): it may or may not be recorded yet. Sending the same decision again is safe:
    it carries the same update id, so Temporal applies it once."""


def operator_identity() -> str:
    """Who runs this process, from its credentials (not from a flag or an environment variable):
    the OS account of its real user id, and the host, e.g. `alice@ops-1`."""
    uid = os.getuid()
    try:
        account = pwd.getpwuid(uid).pw_name
    except KeyError:  # a user id without an account (a container run with --user)
        account = f"uid-{uid}"
    return f"{account}@{socket.gethostname()}"


def decision_update_id(approval_id: str, approver_id: str, decision: Verdict) -> str:
    """The same person's same decision on the same approval is one update, however often sent.
    Update ids are shown unencrypted (history, Web UI): the approver is in it as a digest."""
    person = hashlib.sha256(approver_id.encode()).hexdigest()[:16]
    return f"decide/{approval_id}/{decision.value}/{person}"


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
    # `attention`: a run in the review queue; the step that failed, its code, what it takes.
    kind: ApprovalKind = ApprovalKind.APPROVAL
    step: str | None = None
    error_code: str | None = None
    actions: list[Resolution] = []
    steps_done: list[str] = []


# Refusals of our own, beside the workflow's RuleViolation codes.
WORKFLOW_CLOSED = "WORKFLOW_CLOSED"
WORKFLOW_NOT_FOUND = "WORKFLOW_NOT_FOUND"
# A query waits for a worker; without one, give up instead of hanging the caller.
QUERY_TIMEOUT = timedelta(seconds=10)
# Pages of pending approvals: the runs of a page are queried at most this many at once.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
QUERY_CONCURRENCY = 16
TEMPORAL_AWAY = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
# A status query that ran out of time (the client's deadline ends it as cancelled): asked again.
QUERY_TIMED_OUT = (*TEMPORAL_AWAY, RPCStatusCode.CANCELLED)
QUERY_ATTEMPTS = 3
_CURSOR = re.compile(r"[A-Za-z0-9_=-]{1,2048}")  # what `next_cursor` looks like


class DecisionOutcome(BaseModel):
    """`status` is the approval's status: after an accepted decision, or when already decided."""

    accepted: bool
    code: str | None = None
    reason: str
    status: str | None = None


class WorkflowNotFound(Exception):
    """No workflow with that id."""


async def workflow_status(client: Client, workflow_id: str) -> WorkflowStatus:
    try:
        status: WorkflowStatus = await client.get_workflow_handle(workflow_id).query(
            STATUS_QUERY, result_type=WorkflowStatus, rpc_timeout=QUERY_TIMEOUT
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise WorkflowNotFound(f"no workflow '{workflow_id}'") from None
        raise
    return status


class InvalidCursor(ValueError):
    """A page cursor that is not one this list handed out."""


class ApprovalsPage(BaseModel):
    """One page of pending approvals, newest first; `next_cursor` asks for the next page (None
    after the last). A page may hold fewer than asked: runs decided or closed since visibility
    listed them, and those the roles may not decide, are left out."""

    approvals: list[PendingApprovalView]
    next_cursor: str | None = None


def visibility_roles(settings: Settings, roles: Collection[str]) -> set[str]:
    """The `ApproverRole` values of approvals one of `roles` may decide: the role itself, and
    the role its approvals escalate to (an escalated approval stays open to the first role, while
    `ApproverRole` names the escalation role)."""
    policies = (settings.onboarding_policy(), settings.invoice_policy(), settings.lead_policy())
    escalates_to = {p.approver_role: p.escalation_role for p in policies}
    review = settings.attention_policy()
    escalates_to[review.role] = review.escalation_role
    return set(roles) | {escalates_to[r] for r in roles if r in escalates_to}


def pending_query(settings: Settings, roles: Collection[str] | None) -> str:
    """The visibility query of pending approvals; narrowed to `roles` when given (the runs'
    status then says exactly who may decide)."""
    pending = ApprovalStatus.PENDING.value
    query = f'ExecutionStatus = "Running" AND {APPROVAL_STATUS.name} = "{pending}"'
    if roles is None:
        return query
    wanted = sorted(visibility_roles(settings, roles))
    if not wanted:
        return query + f' AND {APPROVER_ROLE.name} = ""'  # no role: nothing to decide
    quoted = ", ".join('"' + r.replace("\\", "\\\\").replace('"', '\\"') + '"' for r in wanted)
    return query + f" AND {APPROVER_ROLE.name} IN ({quoted})"


async def approvals_page(
    client: Client,
    settings: Settings,
    roles: Collection[str] | None = None,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
    kind: ApprovalKind | None = None,
) -> ApprovalsPage:
    """One page of the pending approvals that one of `roles` may decide (all, without roles),
    of `kind` when given (approvals, or the review queue's items): one visibility call, then
    the runs' status queries, at most `QUERY_CONCURRENCY` at once."""
    listing = client.list_workflows(
        pending_query(settings, roles), page_size=page_size, next_page_token=_token(cursor)
    )
    try:
        await listing.fetch_next_page()
    except RPCError as exc:
        # Temporal cannot read the page token: the cursor is not one it handed out.
        if cursor is not None and exc.status not in TEMPORAL_AWAY:
            raise InvalidCursor("cursor: not a cursor this list handed out") from None
        raise
    gate = asyncio.Semaphore(QUERY_CONCURRENCY)
    wanted = None if roles is None else set(roles)

    async def view(workflow_id: str) -> PendingApprovalView | None:
        async with gate:
            status = await _status_for_list(client, workflow_id)
        if status is None:
            return None
        found = _pending_view(settings, client, workflow_id, status, wanted)
        return found if found is None or kind is None or found.kind == kind else None

    found = await asyncio.gather(*(view(e.id) for e in listing.current_page or []))
    token = listing.next_page_token
    return ApprovalsPage(
        approvals=[v for v in found if v is not None],
        next_cursor=base64.urlsafe_b64encode(token).decode() if token else None,
    )


async def pending_approvals(
    client: Client,
    settings: Settings,
    role: str | None = None,
    *,
    roles: Collection[str] | None = None,
    kind: ApprovalKind | None = ApprovalKind.APPROVAL,
) -> list[PendingApprovalView]:
    """Every pending approval (or review-queue item: `kind`), page after page, newest first;
    only those `role` (or one of `roles`) may decide when given."""
    wanted = [role] if role else (list(roles) if roles is not None else None)
    views: list[PendingApprovalView] = []
    cursor = None
    while True:
        page = await approvals_page(
            client, settings, wanted, page_size=MAX_PAGE_SIZE, cursor=cursor, kind=kind
        )
        views += page.approvals
        if page.next_cursor is None:
            return views
        cursor = page.next_cursor


async def _status_for_list(client: Client, workflow_id: str) -> WorkflowStatus | None:
    """The run's status, or None when it is gone or its query fails. A query that times out
    (a busy worker) is asked again, twice; a run that never answers (no worker serves its
    version any more, say) is left out with a warning in the log, so it cannot hold up
    everyone's list."""
    for _ in range(QUERY_ATTEMPTS):
        try:
            return await workflow_status(client, workflow_id)
        except (WorkflowNotFound, WorkflowQueryFailedError):
            return None  # closed and gone between the listing and the query, or broken
        except RPCError as exc:
            if exc.status not in QUERY_TIMED_OUT:
                raise
    log.warning("pending approvals: %s did not answer its status query; left out", workflow_id)
    return None


def _token(cursor: str | None) -> bytes | None:
    if cursor is None:
        return None
    if not _CURSOR.fullmatch(cursor):
        raise InvalidCursor("cursor: not a cursor this list handed out")
    try:
        token = base64.urlsafe_b64decode(cursor.encode("ascii"))
    except ValueError:  # not base64, or not ASCII
        raise InvalidCursor("cursor: not a cursor this list handed out") from None
    if not token:
        raise InvalidCursor("cursor: not a cursor this list handed out")
    return token


def _pending_view(
    settings: Settings,
    client: Client,
    workflow_id: str,
    status: WorkflowStatus,
    wanted: set[str] | None,
) -> PendingApprovalView | None:
    pending = status.pending_approval
    if pending is None or (wanted is not None and not wanted & set(pending.allowed_roles)):
        return None
    request = pending.request
    return PendingApprovalView(
        workflow_id=workflow_id,
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
        web_ui_url=web_ui_url(settings, client.namespace, workflow_id),
        kind=request.kind,
        step=request.step,
        error_code=request.error_code,
        actions=request.actions,
        steps_done=status.steps_done,
    )


async def decide(
    client: Client,
    approver: Approver,
    workflow_id: str,
    decision: Verdict,
    comment: str = "",
    approval_id: str | None = None,
    rpc_timeout: timedelta | None = None,
    operator: str | None = None,
) -> DecisionOutcome:
    """Send the decision through the validated update; say whether it was accepted and why not.
    `operator` is who sends it for the approver (recorded beside them). Raises
    DecisionUnconfirmed when Temporal does not confirm it within `rpc_timeout` (the server's own
    deadline by default)."""
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
            DECIDE_UPDATE,
            DecideInput(
                approval_id=approval_id,
                decision=decision,
                approver=approver.id,
                approver_roles=approver.roles,
                comment=comment,
                operator=operator,
            ),
            id=decision_update_id(approval_id, approver.id, decision),
            result_type=DecideResult,
            rpc_timeout=rpc_timeout,
        )
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise DecisionUnconfirmed(
            f"workflow '{workflow_id}' did not confirm the {decision.value} of approval "
            f"'{approval_id}' in time; send it again (the same decision is recorded once)"
        ) from None
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            status = None
            if cause.type == RuleViolation.ALREADY_DECIDED:
                status = await _approval_status(client, workflow_id, approval_id)
            return DecisionOutcome(
                accepted=False, code=cause.type, reason=cause.message, status=status
            )
        raise
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:  # no such workflow, or no longer running
            return await _refusal_when_not_running(client, workflow_id, approval_id)
        raise
    return DecisionOutcome(
        accepted=True,
        reason=f"{decision.value} recorded for approval '{approval_id}'",
        status=result.status.value,
    )


def _record(status: WorkflowStatus, approval_id: str) -> ApprovalRecord | None:
    return next((a for a in status.approvals if a.request.approval_id == approval_id), None)


async def _approval_status(client: Client, workflow_id: str, approval_id: str) -> str | None:
    try:
        record = _record(await workflow_status(client, workflow_id), approval_id)
    except (WorkflowNotFound, WorkflowQueryFailedError, RPCError):
        return None
    return record.status.value if record else None


async def _refusal_when_not_running(
    client: Client, workflow_id: str, approval_id: str
) -> DecisionOutcome:
    """Say why a closed (or absent) workflow took no decision, as the rules would have."""
    closed = DecisionOutcome(
        accepted=False, code=WORKFLOW_CLOSED, reason=f"workflow '{workflow_id}' is not running"
    )
    try:
        status = await workflow_status(client, workflow_id)
    except WorkflowNotFound:
        return DecisionOutcome(
            accepted=False, code=WORKFLOW_NOT_FOUND, reason=f"no workflow '{workflow_id}'"
        )
    except (WorkflowQueryFailedError, RPCError):
        return closed  # it cannot tell more
    record = _record(status, approval_id)
    if record is None:
        return DecisionOutcome(
            accepted=False,
            code=RuleViolation.UNKNOWN_APPROVAL.value,
            reason=f"no approval '{approval_id}' on workflow '{workflow_id}'",
        )
    if record.status != ApprovalStatus.PENDING:
        return DecisionOutcome(
            accepted=False,
            code=RuleViolation.ALREADY_DECIDED.value,
            reason=f"approval '{approval_id}' is already {record.status.value}",
            status=record.status.value,
        )
    return closed
