"""One deal of the reconciliation checked against its invoice of the day: in sync, fixed, or an
unresolved item. Shared by the whole-day path and the paged one (the same calls in the same order,
so the histories of either replay)."""

from datetime import date, datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError

from domain.records import BillingInvoiceDetail, CrmDeal, CrmDealRef, InvoiceIdRef, UpdateDealInput
from workflows import options, outcomes

with workflow.unsafe.imports_passed_through():
    from activities.billing import BillingActivities
    from activities.crm import CrmActivities
    from domain.reconciliation import CRM_DEAL_KEY, DealFix, UnresolvedInvoice, fix_note


def issued(invoice: BillingInvoiceDetail) -> tuple[datetime, str]:
    return (invoice.finalized_at or invoice.created_at, invoice.id)


def unresolved(
    invoice: BillingInvoiceDetail, deal_id: str | None, code: str, reason: str
) -> UnresolvedInvoice:
    return UnresolvedInvoice(
        invoice_id=invoice.id,
        invoice_number=invoice.number,
        crm_deal_id=deal_id,
        code=code,
        reason=reason,
    )


def newest_per_deal(
    invoices: list[BillingInvoiceDetail],
) -> tuple[dict[str, BillingInvoiceDetail], list[UnresolvedInvoice]]:
    """Each deal's newest invoice among `invoices`, and the invoices that name no deal."""
    newest: dict[str, BillingInvoiceDetail] = {}
    no_deal: list[UnresolvedInvoice] = []
    for invoice in invoices:
        deal_id = invoice.metadata.get(CRM_DEAL_KEY)
        if not deal_id:
            no_deal.append(unresolved(invoice, None, "NO_DEAL_ID", "the invoice names no CRM deal"))
        elif deal_id not in newest or issued(invoice) > issued(newest[deal_id]):
            newest[deal_id] = invoice
    return newest, no_deal


class DealCheck:
    """Checks deals of one day; `crm` and `billing` are the activity options of each system."""

    def __init__(
        self, day: date, crm: options.ActivityOptions, billing: options.ActivityOptions
    ) -> None:
        self._day = day
        self._crm = crm
        self._billing = billing

    async def check(
        self, deal_id: str, invoice: BillingInvoiceDetail, by_id: dict[str, BillingInvoiceDetail]
    ) -> bool | DealFix | UnresolvedInvoice:
        """True when the deal already agrees with billing; else the fix made, or why not."""
        try:
            deal = await workflow.execute_activity_method(
                CrmActivities.get_deal, CrmDealRef(deal_id=deal_id), **self._crm
            )
            if deal is None:
                reason = f"the CRM has no deal {deal_id}"
                return unresolved(invoice, deal_id, "DEAL_NOT_FOUND", reason)
            if deal.invoice_id == invoice.id and deal.invoice_status == invoice.status:
                return True
            if await self._follows_newer_invoice(deal, invoice, by_id):
                return True
            await workflow.execute_activity_method(
                CrmActivities.update_deal,
                UpdateDealInput(
                    deal_id=deal_id,
                    invoice_id=invoice.id,
                    invoice_status=invoice.status,
                    note=fix_note(self._day, deal, invoice),
                ),
                **self._crm,
            )
        except ActivityError as exc:
            if outcomes.cancelled(exc):
                raise
            code = outcomes.failure_code(exc)
            return unresolved(invoice, deal_id, code, f"the CRM call failed ({code})")
        return DealFix(
            deal_id=deal_id,
            invoice_id=invoice.id,
            invoice_number=invoice.number,
            invoice_status=invoice.status,
            was_invoice_id=deal.invoice_id,
            was_invoice_status=deal.invoice_status,
        )

    async def _follows_newer_invoice(
        self,
        deal: CrmDeal,
        invoice: BillingInvoiceDetail,
        by_id: dict[str, BillingInvoiceDetail],
    ) -> bool:
        """The deal names another invoice that billing has and that is newer: leave it be."""
        if deal.invoice_id is None or deal.invoice_id == invoice.id:
            return False
        other = by_id.get(deal.invoice_id) or await workflow.execute_activity_method(
            BillingActivities.get_invoice_by_id,
            InvoiceIdRef(invoice_id=deal.invoice_id),
            **self._billing,
        )
        return other is not None and issued(other) > issued(invoice)
