"""The approval gate: update `decide` (validated), signals `approve`/`reject`, reminders and expiry.

Rules, the same for every door: the approval exists and is pending, the approver holds an
allowed role, and the approver is not the requester. The update refuses a decision that breaks
them; a signal cannot be refused, so the workflow records it as refused and ignores it.
"""

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from domain import contract
from domain.approvals import (
    ApprovalKind,
    ApprovalOutcome,
    ApprovalRecord,
    ApprovalRequest,
    ApprovalStatus,
    ApproverRef,
    AttentionPolicy,
    DecideInput,
    DecideResult,
    Decision,
    DecisionRecord,
    DirectoryEntry,
    Resolution,
    RuleViolation,
    SignalDecisionInput,
    Verdict,
)
from domain.metrics import APPROVAL_LATENCY
from domain.records import NotifyRoleInput
from domain.status import StepRetrying, WorkflowStatus
from domain.systems import System
from workflows import approval_slack, options, outcomes
from workflows.progress import Progress, describe_retrying
from workflows.review import Resolve

with workflow.unsafe.imports_passed_through():
    from activities.directory import DIRECTORY_TASK_QUEUE, DirectoryActivities
    from activities.mail import MailActivities


APPROVAL_NOTICE_FAILURE_SHOWN = "approval-notice-failure-shown"
ROLES_FROM_DIRECTORY = "approver-roles-from-directory"
# A cancel that arrives while an approval's notices go out ends the run once they are out (before
# it, the run waited on for the decision, and the cancel was lost).
NOTICES_TAKE_CANCEL = "approval-notices-take-cancel"
DIRECTORY_UNAVAILABLE = RuleViolation.DIRECTORY_UNAVAILABLE.value


class ApprovalsMixin:
    """Inherited by every workflow that waits for a human; also answers the `status` query."""

    _progress: Progress

    def _init_approvals(self, progress: Progress) -> None:
        self._progress = progress
        self._approvals: dict[str, ApprovalRecord] = {}
        self._decisions: list[DecisionRecord] = []
        self._ending = False
        self._notice_failed = False
        self._deciding = asyncio.Lock()
        self._reviews = 0  # review-queue items opened so far (their ids count up)

    @workflow.query(name=contract.STATUS_QUERY)
    def status(self) -> WorkflowStatus:
        pending = [a for a in self._approvals.values() if a.status == ApprovalStatus.PENDING]
        p = self._progress
        return self._extend_status(
            WorkflowStatus(
                process=p.process,
                business_key=p.business_key,
                stage=p.stage,
                steps_done=list(p.steps_done),
                pending_approval=pending[0] if pending else None,
                approvals=list(self._approvals.values()),
                decisions=list(self._decisions),
                compensations=list(p.compensations),
                outcome=p.outcome,
                problem=p.problem,
                attention=p.review or p.attention,
                retrying=p.retrying,
            )
        )

    def _extend_status(self, status: WorkflowStatus) -> WorkflowStatus:
        """What a process adds to its `status` (the subscription: how it stands)."""
        return status

    @workflow.signal(name=contract.STEP_RETRYING_SIGNAL)
    def step_retrying(self, notice: StepRetrying) -> None:
        self._progress.step_retrying(describe_retrying(notice))

    @workflow.update(name=contract.DECIDE_UPDATE)
    async def decide(self, inp: DecideInput) -> DecideResult:
        """The caller learns at once whether the decision was accepted; a refusal is recorded
        beside the accepted decisions (as a refused signal is), then answered."""
        # One decision at a time, in the order they arrive (each reads the directory first):
        # the first of two competing decisions is the one that counts.
        async with self._deciding:
            entry = await self._directory(inp.approver, inp.approver_roles)
            if entry is None:
                raise ApplicationError(
                    "the approver directory cannot be read right now; send the decision again",
                    type=DIRECTORY_UNAVAILABLE,
                )
            violation = self._violation(inp.approval_id, entry, inp.decision)
            if violation:
                self._refused(
                    inp.approval_id,
                    inp.approver,
                    inp.decision,
                    inp.comment,
                    "update",
                    violation,
                    inp.operator,
                )
                raise self._refusal(violation, inp.approval_id, inp.approver, inp.decision)
            return self._apply(
                inp.approval_id, inp.decision, inp.approver, inp.comment, "update", inp.operator
            )

    @decide.validator
    def _validate_decide(self, inp: DecideInput) -> None:
        """Refused before anything is recorded: a run that is ending (nothing can be decided
        there), a decision the approval or review item does not take, a skip without why."""
        if self._ending:
            raise ApplicationError(
                "the run is ending; nothing can be decided", type="WORKFLOW_CLOSED"
            )
        record = self._approvals.get(inp.approval_id)
        if record is not None and not record.request.takes(inp.decision):
            violation = RuleViolation.WRONG_ACTION
            raise self._refusal(violation, inp.approval_id, inp.approver, inp.decision)
        if inp.decision == Resolution.SKIP and not inp.comment.strip():
            raise ApplicationError(
                "a skip says why the step needs no doing (comment: what was done by hand)",
                type=RuleViolation.REASON_REQUIRED.value,
                non_retryable=True,
            )

    @workflow.signal(name=contract.APPROVE_SIGNAL)
    async def approve(self, inp: SignalDecisionInput) -> None:
        await self._signalled(inp, Decision.APPROVE)

    @workflow.signal(name=contract.REJECT_SIGNAL)
    async def reject(self, inp: SignalDecisionInput) -> None:
        await self._signalled(inp, Decision.REJECT)

    async def _directory(self, approver: str, claimed: list[str]) -> DirectoryEntry | None:
        """What the approver directory says of `approver` (None: it cannot be read now). The
        roles a caller claims are not used: anyone who reaches Temporal could claim any."""
        if not workflow.patched(ROLES_FROM_DIRECTORY):
            return DirectoryEntry(approver_id=approver, known=True, roles=claimed)
        try:
            return await workflow.execute_activity_method(
                DirectoryActivities.approver,
                ApproverRef(approver_id=approver),
                task_queue=DIRECTORY_TASK_QUEUE,
                start_to_close_timeout=timedelta(seconds=10),
                # A person (or their tool) is waiting for the answer: not longer than this.
                schedule_to_close_timeout=timedelta(seconds=30),
            )
        except ActivityError:
            return None

    def _review_queue(self, policy: AttentionPolicy) -> Resolve:
        """What a step or compensation calls when it fails for good (see `workflows.review`)."""

        async def resolve(step: str, code: str, actions: list[Resolution]) -> ApprovalOutcome:
            return await self._resolve(step, code, actions, policy)

        return resolve

    async def _resolve(
        self, step: str, code: str, actions: list[Resolution], policy: AttentionPolicy
    ) -> ApprovalOutcome:
        """The review queue: a failure no retry or compensation can finish waits for people
        with the operations role to decide one of `actions` (the approval gate's item of kind
        `attention`: the same update, rules, reminders and escalation; it never expires)."""
        self._reviews += 1
        p = self._progress
        problem = f"{step} failed ({code})"
        done = "; ".join(p.steps_done[-3:]) or "nothing yet"
        request = ApprovalRequest(
            approval_id=f"attention-{self._reviews}",
            kind=ApprovalKind.ATTENTION,
            required_role=policy.role,
            escalation_role=policy.escalation_role,
            requested_by=p.process,
            reason=f"{problem}; done so far: {done}",
            process=p.process,
            business_key=p.business_key,
            step=step,
            error_code=code,
            actions=actions,
            timeouts=policy.timeouts,
        )
        p.reviewing(f"{problem}: waiting for {policy.role} ({', '.join(actions)})")
        outcome = await self._await_approval(request)
        p.reviewing(None)
        await self._audit_decision(request.approval_id)
        decided = f"{step}: {outcome.resolution} by {outcome.decided_by}"
        p.done(decided + (f" ({outcome.comment})" if outcome.comment else ""))
        return outcome

    async def _audit_decision(self, approval_id: str) -> None:
        """The accepted decision of a review-queue item, as an audit row (the history has the
        update too). An app database that stays down for an hour does not hold up the run."""
        decision = next(
            d for d in reversed(self._decisions) if d.approval_id == approval_id and d.accepted
        )
        try:
            await workflow.execute_activity_method(
                DirectoryActivities.record_decision,
                decision,
                task_queue=DIRECTORY_TASK_QUEUE,
                start_to_close_timeout=timedelta(seconds=10),
                schedule_to_close_timeout=timedelta(hours=1),
            )
        except ActivityError as exc:
            if outcomes.cancelled(exc):
                raise
            code = outcomes.failure_code(exc)
            workflow.logger.warning("decision on %s not audited: %s", approval_id, code)

    async def _await_approval(self, request: ApprovalRequest) -> ApprovalOutcome:
        """Open the approval and wait: reminder, then escalation, then expiry (a review-queue
        item waits on after its escalation instead)."""
        timeouts = request.timeouts
        now = workflow.now()
        record = ApprovalRecord(
            request=request,
            allowed_roles=[request.required_role],
            opened_at=now,
            due_at=now + timeouts.remind_after,
        )
        self._approvals[request.approval_id] = record
        self._progress.approval(ApprovalStatus.PENDING, request.required_role)
        await self._announce(record, "request", request.required_role)
        # A review-queue item never expires: after its escalation it waits for a decision.
        expire_after = None if request.kind == ApprovalKind.ATTENTION else timeouts.expire_after
        phases = [
            (timeouts.remind_after, "reminder"),
            (timeouts.escalate_after, "escalation"),
            (expire_after, "expiry"),
        ]
        for wait, on_timeout in phases:
            if wait is not None:
                record.due_at = workflow.now() + wait
            if await self._decided_within(record, wait):
                break
            if on_timeout == "reminder":
                await self._announce(record, "reminder", request.required_role)
            elif on_timeout == "escalation":
                record.escalation_level += 1
                record.allowed_roles.append(request.escalation_role)
                self._progress.approval(ApprovalStatus.PENDING, request.escalation_role)
                await self._announce(record, "escalation", request.escalation_role)
            else:
                record.status = ApprovalStatus.EXPIRED
                record.decided_at = workflow.now()
        self._progress.approval(record.status, None)
        self._notice_delivered()  # nobody needs telling any more
        await approval_slack.follow(record)
        _record_latency(record)
        return ApprovalOutcome(
            approval_id=request.approval_id,
            status=record.status,
            decided_by=record.decided_by,
            comment=record.comment,
            resolution=record.resolution,
        )

    async def _announce(self, record: ApprovalRecord, kind: str, role: str) -> None:
        """The approvers' mail, then the Slack message. Each call waits for its outcome when the
        run is cancelled (see `options.on`) and may still succeed; a cancel that arrived while
        they went out then ends the run here, as at a step boundary, instead of being lost to
        the wait that follows. A run already cancelled (a review-queue item opened while its
        compensation failed) waits on."""
        cancelled_before = workflow.cancellation_reason() is not None
        await self._notify(record, kind, role)
        await approval_slack.post(record, kind, role)
        if (
            not cancelled_before
            and workflow.cancellation_reason() is not None
            and workflow.patched(NOTICES_TAKE_CANCEL)
        ):
            raise asyncio.CancelledError(f"cancel requested during: approval {kind}")

    async def _decided_within(self, record: ApprovalRecord, wait: timedelta | None) -> bool:
        try:
            await workflow.wait_condition(
                lambda: record.status != ApprovalStatus.PENDING, timeout=wait
            )
        except TimeoutError:
            return False
        return True

    def _violation(
        self, approval_id: str, approver: DirectoryEntry, verdict: Verdict
    ) -> RuleViolation | None:
        record = self._approvals.get(approval_id)
        if record is None:
            return RuleViolation.UNKNOWN_APPROVAL
        if record.status != ApprovalStatus.PENDING:
            return RuleViolation.ALREADY_DECIDED
        if not record.request.takes(verdict):
            return RuleViolation.WRONG_ACTION
        # Four eyes, like with like: the requester may be recorded by id or by email.
        requester = record.request.requested_by.lower()
        if requester in (approver.approver_id.lower(), (approver.email or "").lower()):
            return RuleViolation.SELF_APPROVAL
        if not set(approver.roles) & set(record.allowed_roles):
            return RuleViolation.WRONG_ROLE
        return None

    def _refusal(
        self, violation: RuleViolation, approval_id: str, approver: str, verdict: Verdict
    ) -> ApplicationError:
        record = self._approvals.get(approval_id)
        allowed = ", ".join(record.allowed_roles) if record else "-"
        if record is not None and record.request.kind == ApprovalKind.ATTENTION:
            takes = ", ".join(record.request.actions)
        else:
            takes = ", ".join(Decision)
        reasons = {
            RuleViolation.WRONG_ACTION: f"'{verdict}' is not a decision '{approval_id}' takes "
            f"(it takes: {takes})",
            RuleViolation.UNKNOWN_APPROVAL: f"no approval '{approval_id}' on this workflow",
            RuleViolation.ALREADY_DECIDED: f"approval '{approval_id}' is already "
            + (record.status.value if record else "closed"),
            RuleViolation.SELF_APPROVAL: f"'{approver}' requested approval '{approval_id}' "
            "and cannot decide it",
            RuleViolation.WRONG_ROLE: f"'{approver}' does not hold a role that may decide "
            f"approval '{approval_id}' (allowed: {allowed})",
        }
        return ApplicationError(reasons[violation], type=violation.value, non_retryable=True)

    def _apply(
        self,
        approval_id: str,
        decision: Verdict,
        approver: str,
        comment: str,
        channel: str,
        operator: str | None = None,
    ) -> DecideResult:
        record = self._approvals[approval_id]
        if isinstance(decision, Resolution):
            record.status, record.resolution = ApprovalStatus.RESOLVED, decision
        elif decision == Decision.APPROVE:
            record.status = ApprovalStatus.APPROVED
        else:
            record.status = ApprovalStatus.REJECTED
        record.decided_by = approver
        record.decided_at = workflow.now()
        record.comment = comment
        self._decisions.append(
            DecisionRecord(
                approval_id=approval_id,
                approver=approver,
                decision=decision,
                comment=comment,
                at=record.decided_at,
                channel=channel,
                accepted=True,
                operator=operator,
            )
        )
        return DecideResult(approval_id=approval_id, status=record.status, decided_by=approver)

    async def _signalled(self, inp: SignalDecisionInput, decision: Decision) -> None:
        async with self._deciding:  # in the order they arrive, as `decide`
            entry = await self._directory(inp.approver, inp.approver_roles)
            if entry is None:  # a signal cannot be answered: record why it decided nothing
                violation: RuleViolation | None = RuleViolation.DIRECTORY_UNAVAILABLE
            else:
                violation = self._violation(inp.approval_id, entry, decision)
            if violation is None:
                self._apply(inp.approval_id, decision, inp.approver, inp.comment, "signal")
                return
            self._refused(inp.approval_id, inp.approver, decision, inp.comment, "signal", violation)

    def _refused(
        self,
        approval_id: str,
        approver: str,
        decision: Verdict,
        comment: str,
        channel: str,
        violation: RuleViolation,
        operator: str | None = None,
    ) -> None:
        how = "signalled" if channel == "signal" else "updated"
        workflow.logger.warning("%s decision refused: %s", how, violation.value)
        self._decisions.append(
            DecisionRecord(
                approval_id=approval_id,
                approver=approver,
                decision=decision,
                comment=comment,
                at=workflow.now(),
                channel=channel,
                accepted=False,
                refused_because=violation,
                operator=operator,
            )
        )

    async def _notify(self, record: ApprovalRecord, kind: str, role: str) -> None:
        """Tell the approvers; a mail outage must not block or fail the approval itself."""
        request = record.request
        review = request.kind == ApprovalKind.ATTENTION
        subject = f"{'Needs attention' if review else 'Approval'} {kind}: {request.process} "
        subject += request.business_key
        body = (
            f"{request.process} {request.business_key} waits for a decision by {role}.\n"
            f"{'Item' if review else 'Approval'}: {request.approval_id}\n"
            f"Reason: {request.reason}\n"
            f"Requested by: {request.requested_by}\nDue: {record.due_at.isoformat()}\n"
        )
        if review:
            body += f"Decide ({', '.join(request.actions)}) in the inbox, under Needs attention.\n"
        try:
            await workflow.execute_activity_method(
                MailActivities.notify_role,
                NotifyRoleInput(
                    notification=f"approval/{request.approval_id}/{kind}",
                    role=role,
                    subject=subject,
                    body=body,
                    template=f"{'attention' if review else 'approval'}-{kind}",
                    business_key=request.business_key,
                ),
                **options.on(System.MAIL, give_up_after=timedelta(minutes=5)),
            )
        except ActivityError as exc:
            if outcomes.cancelled(exc):
                raise
            code = outcomes.failure_code(exc)
            workflow.logger.warning("approval %s notification failed: %s", kind, code)
            # Shown, not only logged: the approvers may not know that they are waited for.
            if workflow.patched(APPROVAL_NOTICE_FAILURE_SHOWN):
                self._notice_failed = True
                self._progress.needs_attention(f"approval {kind} email not sent ({code})")
            return
        self._notice_delivered()

    def _notice_delivered(self) -> None:
        if self._notice_failed:
            self._notice_failed = False
            self._progress.needs_attention(None)


MixinT = TypeVar("MixinT", bound=ApprovalsMixin)
InputT = TypeVar("InputT")
ResultT = TypeVar("ResultT")


def finishes_handlers(
    run: Callable[[MixinT, InputT], Awaitable[ResultT]],
) -> Callable[[MixinT, InputT], Awaitable[ResultT]]:
    """Wraps a workflow's `run`: however it ends, it first lets every update and signal
    handler finish (a handler still waiting sees `_ending` and answers), so no caller is left
    with "workflow completed before the update"."""

    @functools.wraps(run)
    async def finishing(self: MixinT, inp: InputT) -> ResultT:
        try:
            result = await run(self, inp)
        except GeneratorExit:  # the worker dropped the run from its cache: nothing runs here now
            raise
        except BaseException:
            await _handlers_finished(self)
            raise
        await _handlers_finished(self)
        return result

    return finishing


async def _handlers_finished(run: ApprovalsMixin) -> None:
    run._ending = True
    await workflow.wait_condition(workflow.all_handlers_finished)


def _record_latency(record: ApprovalRecord) -> None:
    """Request to outcome, on the worker's metrics endpoint (the workflow meter skips replays)."""
    decided_at = record.decided_at or workflow.now()
    latency = workflow.metric_meter().create_histogram_float(
        APPROVAL_LATENCY, "Time from an approval request to its outcome", "s"
    )
    latency.record(
        (decided_at - record.opened_at).total_seconds(),
        {"role": record.request.required_role, "outcome": record.status.value},
    )
