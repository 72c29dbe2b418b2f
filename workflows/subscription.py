"""Subscription: one run per subscription. It wakes at each period's start and bills the period
with an `InvoiceGeneration` child of its own (approval, dunning and payments as any invoice),
follows the open invoices (overdue: past due, then the portal account suspended until paid),
and takes the changes people make through updates: seats and price from the next period
(sales), pause, resume and cancel (finance). It continues as new after each period boundary,
carrying only the plan, the next period and the periods still open, so its history stays
bounded for years.
"""

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import VersioningBehavior, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, FailureError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from domain import contract, summaries
from domain.approvals import RuleViolation
from domain.contract import SUBSCRIPTION_STATUS
from domain.invoice import InvoiceGenerationInput, InvoiceOverdue, InvoiceRequest, InvoiceSettled
from domain.money import format_amount
from domain.status import WorkflowStatus
from domain.subscription import (
    ChangeResult,
    LifecycleChange,
    OpenPeriod,
    PlanChange,
    SubscriptionInput,
    SubscriptionResult,
    SubscriptionState,
    SubscriptionStatus,
    SubscriptionView,
    first_period_at,
    period_invoice_number,
    period_of_invoice,
    period_start,
)
from workflows.approvals import DIRECTORY_UNAVAILABLE, ApprovalsMixin, finishes_handlers
from workflows.invoice_generation import InvoiceGeneration
from workflows.progress import Progress
from workflows.subscription_portal import PortalAccess

with workflow.unsafe.imports_passed_through():
    from activities.invoice_runs import (
        INVOICE_RUNS_TASK_QUEUE,
        InvoiceRunActivities,
        InvoiceRunRef,
    )

PROCESS = contract.SUBSCRIPTION
ASKS_HOW_EXISTING_INVOICES_ENDED = "subscription-asks-how-existing-invoices-ended"


@workflow.defn(name=PROCESS, versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class Subscription(ApprovalsMixin):
    @workflow.init
    def __init__(self, inp: SubscriptionInput) -> None:
        self._init_approvals(Progress(PROCESS, inp.request.subscription_id))
        self._req, self._policy = inp.request, inp.policy
        self._state = inp.carried or SubscriptionState(plan=inp.request.plan)
        self._portal = PortalAccess(inp.request, inp.policy)
        self._news = 0  # counts signals and updates: the loop looks again after each

    @workflow.run
    @finishes_handlers
    async def run(self, inp: SubscriptionInput) -> SubscriptionResult:
        state = self._state
        if state.first_period_at is None:
            state.first_period_at = first_period_at(self._req.anchor, workflow.now(), self._policy)
        self._progress.begin()
        self._show()
        while not self._cancelled():
            # What arrived since the last look (also signals delivered with this run's start,
            # before this code ran) is handled first; anything later wakes the sleep.
            seen = self._news
            await self._tell_parent()
            await self._follow_open_invoices()
            if self._cancelled():
                break
            if workflow.now() < self._next_billing_at():
                await self._sleep_until(self._wake_at(), seen)
                continue
            if state.cancel_at_period_end:
                self._end("cancelled at the period's end")
                break
            await self._boundary()
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(
                SubscriptionInput(request=self._req, policy=self._policy, carried=state)
            )
        return SubscriptionResult(
            subscription_id=self._req.subscription_id,
            status=state.status,
            periods_billed=state.periods_billed,
            periods_paid=state.periods_paid,
            open_invoices=[p.invoice_workflow_id for p in state.open_periods],
        )

    async def _sleep_until(self, moment: datetime, seen: int) -> None:
        """Until `moment`, or until news after the `seen`th."""
        wait = moment - workflow.now()
        if wait <= timedelta(0):
            return
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._news != seen, timeout=wait)

    def _wake_at(self) -> datetime:
        """The next moment something is due: a period's start, or a suspension."""
        moments = [self._next_billing_at()]
        suspend_at = self._suspend_at()
        if suspend_at is not None and not self._state.suspended:
            moments.append(suspend_at)
        return min(moments)

    def _next_billing_at(self) -> datetime:
        state = self._state
        first = state.first_period_at or workflow.now()
        return period_start(first, state.plan.interval, state.next_period, self._policy)

    def _suspend_at(self) -> datetime | None:
        overdue = [p.overdue_since for p in self._state.open_periods if p.overdue_since]
        return min(overdue) + self._policy.suspend_after if overdue else None

    async def _boundary(self) -> None:
        """A period starts: bill it (or skip it while paused); a plan change applies now."""
        state = self._state
        if state.next_plan is not None:
            state.plan, state.next_plan = state.next_plan, None
        if state.paused:
            self._progress.done(f"period {state.next_period + 1} not billed (paused)")
            state.periods_skipped += 1
        else:
            await self._bill(state.next_period)
        state.next_period += 1

    async def _bill(self, period: int) -> None:
        """The period's invoice run: started once, whatever retries, resets and continues."""
        req, plan = self._req, self._state.plan
        number = period_invoice_number(req.subscription_id, period)
        request = InvoiceRequest(
            invoice_number=number,
            crm_account_id=req.crm_account_id,
            crm_deal_id=req.crm_deal_id,
            lines=[plan.line()],
            currency=plan.currency,
            payment_terms=req.payment_terms,
            issue_date=workflow.now().date(),
            requested_by="subscription",
        )
        child_id = contract.invoice_workflow_id(number)
        child_input = InvoiceGenerationInput(request=request, policy=self._policy.invoice)
        description = summaries.invoice(child_input)
        started = True
        try:
            await workflow.start_child_workflow(
                InvoiceGeneration.run,
                child_input,
                id=child_id,
                static_summary=description.summary,
                static_details=description.details,
                # The invoice outlives this run: it continues as new after each period.
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            started = False  # a reset past this start: the period's invoice run exists
        self._state.open_periods.append(
            OpenPeriod(
                period=period,
                invoice_workflow_id=child_id,
                total_cents=request.totals().total_cents,
            )
        )
        self._state.periods_billed += 1
        early = self._state.early_settlements
        for settled in [e for e in early if e.invoice_workflow_id == child_id]:
            early.remove(settled)
            self._settle(settled)
        self._progress.done(f"period {period + 1} billed: invoice workflow {child_id}")
        if not started and workflow.patched(ASKS_HOW_EXISTING_INVOICES_ENDED):
            await self._ask_how_it_ended(child_id)

    async def _ask_how_it_ended(self, child_id: str) -> None:
        """The period's invoice run existed: if it has ended, its settlement may have gone to a
        run the reset replaced (a later one, after continue-as-new), so ask Temporal."""
        outcome = await workflow.execute_activity_method(
            InvoiceRunActivities.outcome,
            InvoiceRunRef(workflow_id=child_id),
            task_queue=INVOICE_RUNS_TASK_QUEUE,
            start_to_close_timeout=timedelta(seconds=30),
        )
        if outcome.settled is not None:
            self._settle(outcome.settled)

    async def _tell_parent(self) -> None:
        """The first period's invoice settled: the run that started this one learns how."""
        info, settled = workflow.info(), self._state.tell_parent
        if settled is None or info.parent is None:
            return
        self._state.tell_parent = None
        parent = workflow.get_external_workflow_handle(info.parent.workflow_id)
        try:
            await parent.signal(contract.INVOICE_SETTLED_SIGNAL, settled)
        except FailureError:  # the parent has ended: nobody is waiting
            workflow.logger.info("parent %s has ended", info.parent.workflow_id)

    async def _follow_open_invoices(self) -> None:
        """Past due while a period's invoice is overdue; suspended once that has lasted
        `suspend_after`; active again (the portal account back) once all are paid."""
        state = self._state
        overdue_since = min(
            (p.overdue_since for p in state.open_periods if p.overdue_since), default=None
        )
        if overdue_since is None:
            if state.suspended:
                await self._portal.reactivate()
                state.suspended = False
        elif not state.suspended and workflow.now() >= overdue_since + self._policy.suspend_after:
            await self._portal.suspend()
            state.suspended = True
        self._show()

    @workflow.signal(name=contract.INVOICE_SETTLED_SIGNAL)
    def invoice_settled(self, settled: InvoiceSettled) -> None:
        state = self._state
        number = contract.invoice_number_of(settled.invoice_workflow_id)
        period = period_of_invoice(self._req.subscription_id, number)
        if period is None or self._settle(settled):
            return
        if period >= state.next_period and settled not in state.early_settlements:
            # Not billed yet: a reset re-applies the signals it had after the reset point
            # first. The period takes it when it is billed again.
            state.early_settlements.append(settled)
        # else: an earlier period, settled already (told twice)

    def _settle(self, settled: InvoiceSettled) -> bool:
        """Close the open period `settled` is about; False if none is open."""
        state = self._state
        found = [
            p for p in state.open_periods if p.invoice_workflow_id == settled.invoice_workflow_id
        ]
        if not found:
            return False
        state.open_periods.remove(found[0])
        result = settled.result
        paid = result is not None and result.status == "paid"
        state.periods_paid += int(paid)
        ended = result.status if result is not None else settled.failure_code
        self._progress.done(f"period {found[0].period + 1} {ended}")
        if found[0].period == 0:
            self._state.tell_parent = settled  # the parent (lead-to-cash) waits for it
        self._news += 1
        return True

    @workflow.signal(name=contract.INVOICE_OVERDUE_SIGNAL)
    def invoice_overdue(self, notice: InvoiceOverdue) -> None:
        for period in self._state.open_periods:
            if (
                period.invoice_workflow_id == notice.invoice_workflow_id
                and not period.overdue_since
            ):
                period.overdue_since = workflow.now()
                self._progress.done(f"period {period.period + 1} overdue")
        self._news += 1

    @workflow.update(name=contract.CHANGE_PLAN_UPDATE)
    async def change_plan(self, change: PlanChange) -> ChangeResult:
        await self._authorised(change.by, self._policy.sales_role, "changing the plan")
        self._refuse_when_cancelled()
        state = self._state
        state.next_plan = change.applied_to(state.next_plan or state.plan)
        self._progress.done(
            f"plan from period {state.next_period + 1}: {state.next_plan.arithmetic()}"
        )
        return self._changed(f"from period {state.next_period + 1}")

    @change_plan.validator
    def _validate_change_plan(self, change: PlanChange) -> None:
        self._refuse_when_cancelled()
        try:
            change.applied_to(self._state.next_plan or self._state.plan)
        except ValueError as exc:
            raise ApplicationError(str(exc), type="INVALID_PLAN", non_retryable=True) from None

    @workflow.update(name=contract.PAUSE_UPDATE)
    async def pause(self, change: LifecycleChange) -> ChangeResult:
        await self._authorised(change.by, self._policy.finance_role, "pausing")
        self._refuse_unless(not self._state.paused, "ALREADY_PAUSED", "it is paused already")
        self._state.paused = True
        self._progress.done(f"paused by {change.by}")
        return self._changed(f"from period {self._state.next_period + 1}")

    @pause.validator
    def _validate_pause(self, change: LifecycleChange) -> None:
        self._refuse_unless(not self._state.paused, "ALREADY_PAUSED", "it is paused already")

    @workflow.update(name=contract.RESUME_UPDATE)
    async def resume(self, change: LifecycleChange) -> ChangeResult:
        await self._authorised(change.by, self._policy.finance_role, "resuming")
        self._refuse_unless(self._state.paused, "NOT_PAUSED", "it is not paused")
        self._state.paused = False
        self._progress.done(f"resumed by {change.by}")
        return self._changed(f"from period {self._state.next_period + 1}")

    @resume.validator
    def _validate_resume(self, change: LifecycleChange) -> None:
        self._refuse_unless(self._state.paused, "NOT_PAUSED", "it is not paused")

    @workflow.update(name=contract.CANCEL_UPDATE)
    async def cancel(self, change: LifecycleChange) -> ChangeResult:
        await self._authorised(change.by, self._policy.finance_role, "cancelling")
        self._validate_cancel(change)
        if change.at_period_end:
            self._state.cancel_at_period_end = True
            self._progress.done(f"cancel at the period's end, by {change.by}")
            return self._changed(f"at {self._next_billing_at().isoformat()}")
        self._end(f"cancelled by {change.by}")
        return self._changed("now")

    @cancel.validator
    def _validate_cancel(self, change: LifecycleChange) -> None:
        self._refuse_when_cancelled()
        self._refuse_unless(
            not (change.at_period_end and self._state.cancel_at_period_end),
            "ALREADY_CANCELLING",
            "it is cancelled at the period's end already",
        )

    async def _authorised(self, who: str, role: str, doing: str) -> None:
        """The caller's roles are the directory's, never the ones a caller claims."""
        entry = await self._directory(who, [])
        if entry is None:
            raise ApplicationError(
                "the approver directory cannot be read right now; send it again",
                type=DIRECTORY_UNAVAILABLE,
            )
        if role not in entry.roles:
            raise ApplicationError(
                f"{doing} needs the {role} role",
                type=RuleViolation.WRONG_ROLE.value,
                non_retryable=True,
            )

    def _refuse_when_cancelled(self) -> None:
        self._refuse_unless(
            self._state.status is not SubscriptionStatus.CANCELLED and not self._ending,
            "SUBSCRIPTION_CANCELLED",
            "the subscription is cancelled; nothing changes it",
        )

    @staticmethod
    def _refuse_unless(allowed: bool, code: str, why: str) -> None:
        if not allowed:
            raise ApplicationError(why, type=code, non_retryable=True)

    def _changed(self, effective: str) -> ChangeResult:
        self._news += 1
        self._show()
        return ChangeResult(subscription=self.view(), effective=effective)

    def _cancelled(self) -> bool:
        return self._state.status is SubscriptionStatus.CANCELLED

    def _end(self, why: str) -> None:
        self._state.status = SubscriptionStatus.CANCELLED
        self._progress.outcome = why
        self._show()

    def _show(self) -> None:
        """The status everywhere: search attributes `SubscriptionStatus` and `Stage`."""
        state = self._state
        if state.status is not SubscriptionStatus.CANCELLED:
            state.status = (
                SubscriptionStatus.SUSPENDED
                if state.suspended
                else SubscriptionStatus.PAST_DUE
                if any(p.overdue_since for p in state.open_periods)
                else SubscriptionStatus.PAUSED
                if state.paused
                else SubscriptionStatus.ACTIVE
            )
        if self._progress.stage != state.status.value:  # and at each run's start
            workflow.upsert_search_attributes([SUBSCRIPTION_STATUS.value_set(state.status.value)])
            self._progress.enter(state.status.value)
        shown = self.view()
        at = shown.next_billing_at
        self._progress.more(
            [
                f"**Plan:** {shown.plan}",
                f"**Next period:** {shown.next_period}, "
                + (at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else "none"),
                f"**Open:** {format_amount(shown.open_cents, state.plan.currency)} in "
                f"{len(shown.open_invoices)} invoice(s)",
            ]
            + ([f"**From the next period:** {shown.next_plan}"] if shown.next_plan else [])
        )

    def view(self) -> SubscriptionView:
        state = self._state
        cancelled = state.status is SubscriptionStatus.CANCELLED
        return SubscriptionView(
            subscription_id=self._req.subscription_id,
            status=state.status,
            plan=state.plan.arithmetic(),
            next_plan=state.next_plan.arithmetic() if state.next_plan else None,
            next_period=state.next_period + 1,
            next_billing_at=None
            if cancelled or state.cancel_at_period_end
            else self._next_billing_at(),
            open_cents=sum(p.total_cents for p in state.open_periods),
            open_invoices=[p.invoice_workflow_id for p in state.open_periods],
            cancel_at_period_end=state.cancel_at_period_end,
            periods_billed=state.periods_billed,
            periods_paid=state.periods_paid,
        )

    def _extend_status(self, status: WorkflowStatus) -> WorkflowStatus:
        return status.model_copy(update={"subscription": self.view()})
