"""The paged reconciliation: a day read from billing one list page at a time, each page's deals
checked with at most `crm_in_flight` CRM calls at once and the page written as a part of the
export, in runs of `pages_per_run` pages that continue as new carrying only a cursor and counters
(`ReconciliationCarry`).

Why continue-as-new rather than a child workflow per chunk: the pages come one after another (a
cursor), so chunks could not run side by side anyway; with one workflow id for the whole day,
`status`, `Stage`, the activities' retry notices and a cancel all reach the current run, and no
parent history grows with the number of chunks. A run holds at most pages_per_run x page_size
invoices (500 by default): even when every deal needs a fix its history stays far under 10,240
events, and no payload is bigger than one page (about 60 KiB at 100 invoices).

A deal follows its newest invoice of the day across pages and runs: within a page only its newest
invoice is checked (the older ones count as in sync); across pages a deal is never moved to an
invoice older than the one it names (`DealCheck`). Billing lists newest first, so a deal's newest
invoice usually comes first and its older ones then find the deal in sync.
"""

import asyncio
from datetime import date, timedelta

from temporalio import workflow
from temporalio.workflow import ActivityCancellationType

from domain.records import BillingInvoiceDetail, InvoicePageInput
from domain.systems import System
from workflows import options
from workflows.progress import Progress
from workflows.reconciliation_deals import DealCheck, newest_per_deal

with workflow.unsafe.imports_passed_through():
    from activities.accounting_export import ACCOUNTING_TASK_QUEUE, AccountingExportActivities
    from activities.billing import BillingActivities
    from domain.reconciliation import (
        DealFix,
        ExportedFile,
        ExportPartInput,
        FinishExportInput,
        ReconciliationCarry,
        ReconciliationPolicy,
        UnresolvedInvoice,
        day_bounds,
        first_listed,
    )

# A run continues as new once its history passes this many events, whatever the settings: a page
# adds at most about 2,200 more (100 deals, each a CRM read, a billing read and a fix, with their
# workflow tasks and retry notices), so no run reaches 10,240.
HISTORY_BUDGET = 7_000


class PagedDay:
    def __init__(self, day: date, zone: str, progress: Progress, carry: ReconciliationCarry):
        self._day = day
        self._zone = zone
        self._progress = progress
        self.carry = carry

    def _export_options(self, policy: ReconciliationPolicy) -> options.ActivityOptions:
        return options.ActivityOptions(
            task_queue=ACCOUNTING_TASK_QUEUE,
            start_to_close_timeout=timedelta(minutes=2),
            schedule_to_close_timeout=policy.give_up_after,
            retry_policy=options.SYSTEM_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )

    async def read(self, policy: ReconciliationPolicy) -> bool:
        """Pages until the day is read (True) or this run has done its share (False)."""
        self._progress.enter("reconciling")
        billing = options.on(System.BILLING, give_up_after=policy.give_up_after)
        # A CRM outage holds the run (retried, `Stage` = retrying) rather than failing deals.
        crm = options.on(System.CRM, give_up_after=policy.crm_outage_hold)
        deals = DealCheck(self._day, crm, billing)
        start, end = day_bounds(self._day, self._zone)
        for _ in range(policy.pages_per_run):
            page = await workflow.execute_activity_method(
                BillingActivities.list_invoices_page,
                InvoicePageInput(
                    finalized_from=start,
                    finalized_before=end,
                    starting_after=self.carry.cursor,
                    limit=policy.page_size,
                ),
                **billing,
            )
            fixed, unresolved = await self._reconcile(page.invoices, deals, policy.crm_in_flight)
            await workflow.execute_activity_method(
                AccountingExportActivities.write_export_part,
                # Rebuilt from plain data: the activity's result class may be another copy of
                # the model's class than this module's (a replayer's sandbox re-imports `domain`).
                ExportPartInput.model_validate(
                    {
                        "day": self._day,
                        "export_key": self.carry.export_key,
                        "page": self.carry.pages,
                        "invoices": [i.model_dump() for i in page.invoices],
                        "unresolved": [u.model_dump() for u in unresolved],
                    }
                ),
                **self._export_options(policy),
            )
            self._count(page.invoices, fixed, unresolved, page.next_cursor)
            if page.next_cursor is None:
                return True
            info = workflow.info()
            if info.get_current_history_length() > HISTORY_BUDGET:
                return False
            if info.is_continue_as_new_suggested():
                return False
        return False

    def _count(
        self,
        invoices: list[BillingInvoiceDetail],
        fixed: list[DealFix],
        unresolved: list[UnresolvedInvoice],
        cursor: str | None,
    ) -> None:
        c = self.carry
        c.cursor = cursor
        c.pages += 1
        c.invoices += len(invoices)
        c.in_sync += len(invoices) - len(fixed) - len(unresolved)
        c.fixed_total += len(fixed)
        c.unresolved_total += len(unresolved)
        c.fixed = first_listed([*c.fixed, *fixed])
        c.unresolved = first_listed([*c.unresolved, *unresolved])
        self._progress.done(
            f"page {c.pages}: {len(invoices)} invoices, {len(fixed)} fixed, "
            f"{len(unresolved)} unresolved ({c.invoices} so far)"
        )

    async def _reconcile(
        self, invoices: list[BillingInvoiceDetail], deals: DealCheck, in_flight: int
    ) -> tuple[list[DealFix], list[UnresolvedInvoice]]:
        newest, unresolved = newest_per_deal(invoices)
        by_id = {invoice.id: invoice for invoice in invoices}
        slots = asyncio.Semaphore(in_flight)

        async def check(deal_id: str, invoice: BillingInvoiceDetail) -> object:
            async with slots:
                return await deals.check(deal_id, invoice, by_id)

        pairs = sorted(newest.items(), key=lambda pair: (pair[1].number, pair[1].id))
        outcomes = await asyncio.gather(*(check(deal_id, invoice) for deal_id, invoice in pairs))
        fixed = [o for o in outcomes if isinstance(o, DealFix)]
        unresolved += [o for o in outcomes if isinstance(o, UnresolvedInvoice)]
        return fixed, unresolved

    async def finish(self, policy: ReconciliationPolicy) -> ExportedFile:
        self._progress.enter("exporting")
        export = await workflow.execute_activity_method(
            AccountingExportActivities.finish_export,
            FinishExportInput(day=self._day, export_key=self.carry.export_key),
            **self._export_options(policy),
        )
        written = "written" if export.changed else "unchanged"
        self._progress.done(f"{export.rows} invoices exported to {export.path} ({written})")
        return export
