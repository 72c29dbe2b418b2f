"""Reconciliation: one day's billing invoices against the CRM, then the accounting export.

Billing is the source of truth for an invoice's status, the CRM for deal data. A deal that lags
behind billing (no invoice, an older invoice, another status) is updated with a note saying so;
what cannot be fixed (no deal id on the invoice, no such deal, a CRM refusal) is listed in the
result and in `status`, and the run ends with `Stage` = `attention_needed`. Idempotent per day:
a second run finds the deals in sync and writes the same file (see `domain.reconciliation` for
which invoices belong to a day and which day a scheduled run covers).
"""

import asyncio
from datetime import date, datetime, timedelta

from temporalio import workflow
from temporalio.common import SearchAttributeKey, VersioningBehavior
from temporalio.exceptions import ActivityError, ApplicationError

from domain.contract import RECONCILIATION as PROCESS
from domain.contract import STATUS_QUERY, STEP_RETRYING_SIGNAL
from domain.records import (
    BillingInvoiceDetail,
    CrmDeal,
    CrmDealRef,
    ExportInvoicesInput,
    InvoiceIdRef,
    ListInvoicesInput,
    UpdateDealInput,
)
from domain.status import StepRetrying
from domain.systems import System
from workflows import options, outcomes
from workflows.progress import Progress, describe_retrying

# `domain.reconciliation` passes through (as the worker passes all of `domain`), so that its
# `zoneinfo` is the real module: a time zone the sandbox proxies is no tzinfo to `datetime`.
with workflow.unsafe.imports_passed_through():
    from activities.accounting_export import ACCOUNTING_TASK_QUEUE, AccountingExportActivities
    from activities.billing import BillingActivities
    from activities.crm import CrmActivities
    from domain.reconciliation import (
        CRM_DEAL_KEY,
        DealFix,
        ExportedFile,
        ReconciliationInput,
        ReconciliationPolicy,
        ReconciliationResult,
        ReconciliationStatus,
        UnresolvedInvoice,
        attention_line,
        day_bounds,
        day_covered,
        fix_note,
    )

# Set by Temporal on every run a schedule starts; on a backfilled run, the backfilled time.
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
# Deals checked at once; the CRM queue's rate limit still holds across them.
BATCH = 10


def _issued(invoice: BillingInvoiceDetail) -> tuple[datetime, str]:
    return (invoice.finalized_at or invoice.created_at, invoice.id)


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

    def _scheduled_day(self) -> date:
        """The day before the scheduled time (an unscheduled run without a day: its start)."""
        info = workflow.info()
        scheduled = info.typed_search_attributes.get(SCHEDULED_START)
        return day_covered(scheduled or info.workflow_start_time, self._zone)

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> ReconciliationStatus:
        p = self._progress
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
            fixed=list(self._fixed),
            unresolved=list(self._unresolved),
            export=self._export,
        )

    @workflow.signal(name=STEP_RETRYING_SIGNAL)
    def step_retrying(self, notice: StepRetrying) -> None:
        self._progress.step_retrying(describe_retrying(notice))

    @workflow.run
    async def run(self, inp: ReconciliationInput) -> ReconciliationResult:
        progress = self._progress
        progress.begin()
        try:
            invoices = await self._invoices_of_the_day(inp.policy)
            in_sync = await self._reconcile(invoices, inp.policy)
            export = await self._export_day(invoices, inp.policy)
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
        if self._unresolved:
            progress.needs_attention(attention_line(self._unresolved))
        progress.outcome = (
            f"{len(self._fixed)} fixed, {in_sync} in sync, {len(self._unresolved)} unresolved"
        )
        progress.enter("reconciled")
        return ReconciliationResult(
            day=self._day,
            time_zone=self._zone,
            invoices=len(invoices),
            in_sync=in_sync,
            fixed=list(self._fixed),
            unresolved=list(self._unresolved),
            export=export,
        )

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
        newest: dict[str, BillingInvoiceDetail] = {}
        for invoice in invoices:
            deal_id = invoice.metadata.get(CRM_DEAL_KEY)
            if not deal_id:
                self._unresolve(invoice, None, "NO_DEAL_ID", "the invoice names no CRM deal")
            elif deal_id not in newest or _issued(invoice) > _issued(newest[deal_id]):
                newest[deal_id] = invoice
        # An older invoice of a deal with a newer one that day: the deal follows the newer.
        in_sync = len(invoices) - len(self._unresolved) - len(newest)
        by_id = {invoice.id: invoice for invoice in invoices}
        pairs = sorted(newest.items(), key=lambda pair: (pair[1].number, pair[1].id))
        for start in range(0, len(pairs), BATCH):
            checked = await asyncio.gather(
                *(
                    self._reconcile_deal(deal_id, invoice, by_id, policy)
                    for deal_id, invoice in pairs[start : start + BATCH]
                )
            )
            in_sync += sum(checked)
        self._fixed.sort(key=lambda fix: (fix.invoice_number, fix.invoice_id))
        self._unresolved.sort(key=lambda u: (u.invoice_number, u.invoice_id))
        return in_sync

    async def _reconcile_deal(
        self,
        deal_id: str,
        invoice: BillingInvoiceDetail,
        by_id: dict[str, BillingInvoiceDetail],
        policy: ReconciliationPolicy,
    ) -> bool:
        """True when the deal already agrees with billing; else fixed, or listed as unresolved."""
        crm = options.on(System.CRM, give_up_after=policy.give_up_after)
        try:
            deal = await workflow.execute_activity_method(
                CrmActivities.get_deal, CrmDealRef(deal_id=deal_id), **crm
            )
            if deal is None:
                reason = f"the CRM has no deal {deal_id}"
                self._unresolve(invoice, deal_id, "DEAL_NOT_FOUND", reason)
                return False
            if deal.invoice_id == invoice.id and deal.invoice_status == invoice.status:
                return True
            if await self._follows_newer_invoice(deal, invoice, by_id, policy):
                return True
            await workflow.execute_activity_method(
                CrmActivities.update_deal,
                UpdateDealInput(
                    deal_id=deal_id,
                    invoice_id=invoice.id,
                    invoice_status=invoice.status,
                    note=fix_note(self._day, deal, invoice),
                ),
                **crm,
            )
        except ActivityError as exc:
            if outcomes.cancelled(exc):
                raise
            code = outcomes.failure_code(exc)
            self._unresolve(invoice, deal_id, code, f"the CRM call failed ({code})")
            return False
        self._fixed.append(
            DealFix(
                deal_id=deal_id,
                invoice_id=invoice.id,
                invoice_number=invoice.number,
                invoice_status=invoice.status,
                was_invoice_id=deal.invoice_id,
                was_invoice_status=deal.invoice_status,
            )
        )
        self._progress.done(
            f"CRM deal {deal_id} fixed: invoice {invoice.number} {invoice.status} "
            f"(was {deal.invoice_status or 'nothing'})"
        )
        return False

    async def _follows_newer_invoice(
        self,
        deal: CrmDeal,
        invoice: BillingInvoiceDetail,
        by_id: dict[str, BillingInvoiceDetail],
        policy: ReconciliationPolicy,
    ) -> bool:
        """The deal names another invoice that billing has and that is newer: leave it be."""
        if deal.invoice_id is None or deal.invoice_id == invoice.id:
            return False
        other = by_id.get(deal.invoice_id) or await workflow.execute_activity_method(
            BillingActivities.get_invoice_by_id,
            InvoiceIdRef(invoice_id=deal.invoice_id),
            **options.on(System.BILLING, give_up_after=policy.give_up_after),
        )
        return other is not None and _issued(other) > _issued(invoice)

    def _unresolve(
        self, invoice: BillingInvoiceDetail, deal_id: str | None, code: str, reason: str
    ) -> None:
        self._unresolved.append(
            UnresolvedInvoice(
                invoice_id=invoice.id,
                invoice_number=invoice.number,
                crm_deal_id=deal_id,
                code=code,
                reason=reason,
            )
        )

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
