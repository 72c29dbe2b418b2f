"""Reconciliation: one day's billing invoices against the CRM, then the accounting export.

A day is read page by page, in runs that continue as new (see `workflows.reconciliation_pages`
for how and why). Runs begun before paging (no `paged-reconciliation` marker in their history)
keep the whole-day path below, which lists the day in one activity, until no history holds it.

Billing is the source of truth for an invoice's status, the CRM for deal data. A deal that lags
behind billing (no invoice, an older invoice, another status) is updated with a note saying so;
what cannot be fixed (no deal id on the invoice, no such deal, a CRM refusal) is listed in the
result and in `status`, and the run ends with `Stage` = `attention_needed`. Idempotent per day:
a second run finds the deals in sync and writes the same file (see `domain.reconciliation` for
which invoices belong to a day and which day a scheduled run covers).
"""

import asyncio
from datetime import date, timedelta

from temporalio import workflow
from temporalio.common import SearchAttributeKey, VersioningBehavior
from temporalio.exceptions import ActivityError, ApplicationError

from domain.contract import RECONCILIATION as PROCESS
from domain.contract import STATUS_QUERY, STEP_RETRYING_SIGNAL
from domain.records import BillingInvoiceDetail, ExportInvoicesInput, ListInvoicesInput
from domain.status import StepRetrying
from domain.systems import System
from workflows import options, outcomes
from workflows.progress import Progress, describe_retrying
from workflows.reconciliation_deals import DealCheck, newest_per_deal
from workflows.reconciliation_pages import PagedDay

# `domain.reconciliation` passes through (as the worker passes all of `domain`), so that its
# `zoneinfo` is the real module: a time zone the sandbox proxies is no tzinfo to `datetime`.
with workflow.unsafe.imports_passed_through():
    from activities.accounting_export import ACCOUNTING_TASK_QUEUE, AccountingExportActivities
    from activities.billing import BillingActivities
    from domain.reconciliation import (
        DealFix,
        ExportedFile,
        ReconciliationCarry,
        ReconciliationInput,
        ReconciliationPolicy,
        ReconciliationResult,
        ReconciliationStatus,
        UnresolvedInvoice,
        attention_line,
        day_bounds,
        day_covered,
    )

# Set by Temporal on every run a schedule starts; on a backfilled run, the backfilled time.
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
# The patch that brought paging: a run without its marker began on the whole-day path.
PAGED = "paged-reconciliation"
# Whole-day path: deals checked at once; the CRM queue's rate limit still holds across them.
BATCH = 10


# Pinned: a run lasts minutes; it ends on the code that began it.
@workflow.defn(name=PROCESS, versioning_behavior=VersioningBehavior.PINNED)
class Reconciliation:
    @workflow.init
    def __init__(self, inp: ReconciliationInput) -> None:
        self._zone = inp.policy.time_zone
        self._day = inp.day or self._scheduled_day()
        self._progress = Progress(PROCESS, self._day.isoformat())
        self._fixed: list[DealFix] = []
        self._unresolved: list[UnresolvedInvoice] = []
        self._export: ExportedFile | None = None
        self._paged: PagedDay | None = None

    def _scheduled_day(self) -> date:
        """The day before the scheduled time (an unscheduled run without a day: its start)."""
        info = workflow.info()
        scheduled = info.typed_search_attributes.get(SCHEDULED_START)
        return day_covered(scheduled or info.workflow_start_time, self._zone)

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> ReconciliationStatus:
        p = self._progress
        carry = self._paged.carry if self._paged else None
        return ReconciliationStatus(
            process=p.process,
            business_key=p.business_key,
            stage=p.stage,
            steps_done=list(p.steps_done),
            outcome=p.outcome,
            problem=p.problem,
            attention=p.attention,
            retrying=p.retrying,
            day=self._day,
            time_zone=self._zone,
            fixed=list(carry.fixed if carry else self._fixed),
            unresolved=list(carry.unresolved if carry else self._unresolved),
            export=self._export,
            invoices=carry.invoices if carry else 0,
            fixed_total=carry.fixed_total if carry else len(self._fixed),
            unresolved_total=carry.unresolved_total if carry else len(self._unresolved),
        )

    @workflow.signal(name=STEP_RETRYING_SIGNAL)
    def step_retrying(self, notice: StepRetrying) -> None:
        self._progress.step_retrying(describe_retrying(notice))

    @workflow.run
    async def run(self, inp: ReconciliationInput) -> ReconciliationResult:
        progress = self._progress
        progress.begin()
        try:
            if inp.carried is not None or workflow.patched(PAGED):
                return await self._run_paged(inp)
            return await self._run_whole_day(inp)
        except ActivityError as failure:
            if outcomes.cancelled(failure):
                raise outcomes.cancelled_ending(progress) from None
            code = outcomes.failure_code(failure)
            progress.problem = f"{code}: {failure.cause or failure}"
            progress.outcome = code.lower()
            progress.enter("failed")
            raise ApplicationError(
                f"{PROCESS} {self._day} failed ({progress.problem})", type=code, non_retryable=True
            ) from None

    async def _run_paged(self, inp: ReconciliationInput) -> ReconciliationResult:
        carry = inp.carried or ReconciliationCarry(export_key=workflow.info().run_id)
        self._paged = PagedDay(self._day, self._zone, self._progress, carry)
        if not await self._paged.read(inp.policy):
            # This run's share is done: the next run goes on from the cursor, with a fresh history.
            workflow.continue_as_new(
                ReconciliationInput(day=self._day, policy=inp.policy, carried=carry)
            )
        self._export = await self._paged.finish(inp.policy)
        return self._ended(
            carry.invoices, carry.in_sync, carry.fixed, carry.unresolved, self._export,
            (carry.fixed_total, carry.unresolved_total),
        )  # fmt: skip

    def _ended(
        self,
        invoices: int,
        in_sync: int,
        fixed: list[DealFix],
        unresolved: list[UnresolvedInvoice],
        export: ExportedFile,
        totals: tuple[int, int],
    ) -> ReconciliationResult:
        fixed_total, unresolved_total = totals
        if unresolved_total:
            self._progress.needs_attention(attention_line(unresolved, unresolved_total))
        self._progress.outcome = (
            f"{fixed_total} fixed, {in_sync} in sync, {unresolved_total} unresolved"
        )
        self._progress.enter("reconciled")
        return ReconciliationResult(
            day=self._day,
            time_zone=self._zone,
            invoices=invoices,
            in_sync=in_sync,
            fixed=list(fixed),
            unresolved=list(unresolved),
            export=export,
            fixed_total=fixed_total,
            unresolved_total=unresolved_total,
        )

    # --- the whole-day path, for runs begun before paging --------------------------------------

    async def _run_whole_day(self, inp: ReconciliationInput) -> ReconciliationResult:
        invoices = await self._invoices_of_the_day(inp.policy)
        in_sync = await self._reconcile(invoices, inp.policy)
        export = await self._export_day(invoices, inp.policy)
        totals = (len(self._fixed), len(self._unresolved))
        return self._ended(len(invoices), in_sync, self._fixed, self._unresolved, export, totals)

    async def _invoices_of_the_day(
        self, policy: ReconciliationPolicy
    ) -> list[BillingInvoiceDetail]:
        self._progress.enter("listing_invoices")
        start, end = day_bounds(self._day, self._zone)
        listed = await workflow.execute_activity_method(
            BillingActivities.list_invoices,
            ListInvoicesInput(finalized_from=start, finalized_before=end),
            **options.on(System.BILLING, give_up_after=policy.give_up_after),
        )
        invoices = sorted(listed.invoices, key=lambda i: (i.number, i.id))
        self._progress.done(f"{len(invoices)} invoices issued on {self._day} ({self._zone})")
        return invoices

    async def _reconcile(
        self, invoices: list[BillingInvoiceDetail], policy: ReconciliationPolicy
    ) -> int:
        """Check every deal once, against its newest invoice of the day; returns how many
        invoices needed nothing."""
        self._progress.enter("reconciling")
        newest, no_deal = newest_per_deal(invoices)
        self._unresolved.extend(no_deal)
        # An older invoice of a deal with a newer one that day: the deal follows the newer.
        in_sync = len(invoices) - len(self._unresolved) - len(newest)
        by_id = {invoice.id: invoice for invoice in invoices}
        deals = DealCheck(
            self._day,
            options.on(System.CRM, give_up_after=policy.give_up_after),
            options.on(System.BILLING, give_up_after=policy.give_up_after),
        )
        pairs = sorted(newest.items(), key=lambda pair: (pair[1].number, pair[1].id))
        for start in range(0, len(pairs), BATCH):
            batch = pairs[start : start + BATCH]
            checked = await asyncio.gather(
                *(self._checked(deals, deal_id, invoice, by_id) for deal_id, invoice in batch)
            )
            in_sync += sum(checked)
        self._fixed.sort(key=lambda fix: (fix.invoice_number, fix.invoice_id))
        self._unresolved.sort(key=lambda u: (u.invoice_number, u.invoice_id))
        return in_sync

    async def _checked(
        self,
        deals: DealCheck,
        deal_id: str,
        invoice: BillingInvoiceDetail,
        by_id: dict[str, BillingInvoiceDetail],
    ) -> bool:
        """True when the deal already agrees with billing; else fixed, or listed as unresolved
        (recorded as soon as known, in the order the runs before this refactor did)."""
        outcome = await deals.check(deal_id, invoice, by_id)
        if isinstance(outcome, UnresolvedInvoice):
            self._unresolved.append(outcome)
        elif isinstance(outcome, DealFix):
            self._fixed.append(outcome)
            self._progress.done(
                f"CRM deal {outcome.deal_id} fixed: invoice {outcome.invoice_number} "
                f"{outcome.invoice_status} (was {outcome.was_invoice_status or 'nothing'})"
            )
        return outcome is True

    async def _export_day(
        self, invoices: list[BillingInvoiceDetail], policy: ReconciliationPolicy
    ) -> ExportedFile:
        self._progress.enter("exporting")
        self._export = await workflow.execute_activity_method(
            AccountingExportActivities.export_invoices,
            # Rebuilt from plain data: the activity's result class may be another copy of the
            # model's class than this module's (a replayer's sandbox re-imports `domain`).
            ExportInvoicesInput.model_validate(
                {"day": self._day, "invoices": [i.model_dump() for i in invoices]}
            ),
            task_queue=ACCOUNTING_TASK_QUEUE,
            start_to_close_timeout=timedelta(minutes=1),
            schedule_to_close_timeout=policy.give_up_after,
            retry_policy=options.SYSTEM_RETRY,
        )
        written = "written" if self._export.changed else "unchanged"
        rows, path = self._export.rows, self._export.path
        self._progress.done(f"{rows} invoices exported to {path} ({written})")
        return self._export
