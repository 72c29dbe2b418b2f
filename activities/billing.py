"""Billing activities over Stripe's REST API: customers, invoice items and invoices (draft,
finalize, void or delete), and the day's invoices.

The activities' inputs and results are the project's models (an invoice is known by its
invoice number, kept in Stripe's metadata); Stripe's objects stay in this module. Tax: one
Stripe tax rate per rate in basis points, found by its metadata or created once, attached to
each invoice item, so Stripe reports the tax as tax (`total_taxes`, the invoice PDF). A worker
keeps the ids it found for `TAX_RATE_TTL` instead of listing the rates for every invoice.
"""

import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.http import SystemClient, idempotency_key, path
from activities.stripe_api import (
    CRM_ACCOUNT_ID,
    INVOICE_NUMBER,
    RATE_BP,
    WORKFLOW_ID,
    Customer,
    Customers,
    Deleted,
    Invoice,
    InvoiceItem,
    Invoices,
    TaxRate,
    TaxRates,
    form,
    metadata_query,
)
from domain.invoice import InvoiceTerms
from domain.records import (
    BillingCustomer,
    BillingInvoice,
    BillingInvoiceDetail,
    BillingInvoiceDetails,
    BillingLine,
    CompensationResult,
    CreateInvoiceInput,
    EnsureCustomerInput,
    InvoiceIdRef,
    InvoiceNumberRef,
    InvoicePage,
    InvoicePageInput,
    ListInvoicesInput,
)

PAGE = 100
# Stripe's list filters on `created`, not on finalization: an invoice finalized in a window was
# drafted at most this long before it (finance approval waits days, not months).
FINALIZED_AFTER_DRAFT = timedelta(days=90)
# Search is eventually consistent (about a minute behind on Stripe): a lookup right after a
# create also lists the invoices drafted this recently.
SEARCH_LAG = timedelta(days=1)
# How long a worker uses a tax rate id it found without asking billing again (a line refused
# with a kept id looks the rate up again at once: `create_invoice`).
TAX_RATE_TTL = timedelta(minutes=10)
MISSING = "resource_missing"
IDEMPOTENCY_ERROR = "idempotency_error"


def _at(unix: int | None) -> datetime | None:
    return None if unix is None else datetime.fromtimestamp(unix).astimezone()


def _number(invoice: Invoice) -> str:
    return (invoice.metadata or {}).get(INVOICE_NUMBER, "")


def _summary(invoice: Invoice) -> BillingInvoice:
    return BillingInvoice(
        id=invoice.id,
        number=_number(invoice),
        status=invoice.status or "draft",
        total_cents=invoice.total,
        amount_paid_cents=invoice.amount_paid,
        amount_due_cents=invoice.amount_remaining,
    )


def _detail(invoice: Invoice) -> BillingInvoiceDetail:
    tax = sum(t.amount for t in invoice.total_taxes or [])
    created = datetime.fromtimestamp(invoice.created).astimezone()
    due = _at(invoice.due_date)
    return BillingInvoiceDetail(
        id=invoice.id,
        number=_number(invoice),
        status=invoice.status or "draft",
        customer_id=invoice.customer or "",
        currency=invoice.currency.upper(),
        subtotal_cents=invoice.subtotal,
        tax_cents=tax,
        total_cents=invoice.total,
        amount_paid_cents=invoice.amount_paid,
        amount_due_cents=invoice.amount_remaining,
        due_date=due.date() if due else None,
        metadata=dict(invoice.metadata or {}),
        created_at=created,
        finalized_at=_at(invoice.status_transitions.finalized_at),
        paid_at=_at(invoice.status_transitions.paid_at),
        voided_at=_at(invoice.status_transitions.voided_at),
    )


def _workflow_id() -> str:
    """The run's own mark on what it creates: its workflow id (a business key, never personal)."""
    return activity.info().workflow_id or ""


def _percentage(rate_bp: int) -> str:
    return f"{rate_bp // 100}.{rate_bp % 100:02d}"


class BillingActivities:
    def __init__(self, billing: SystemClient) -> None:
        self._billing = billing
        self._rates: dict[int, tuple[str, float]] = {}

    @activity.defn(name="billing.find_or_create_customer")
    async def find_or_create_customer(self, inp: EnsureCustomerInput) -> BillingCustomer:
        """The billing customer of a CRM account: found by metadata, else created once. The
        key is the account's, not the workflow's: concurrent runs for one account create one."""
        found = await self._customer_of(inp.crm_account_id)
        if found is not None:
            return found
        try:
            created = await self._billing.call(
                "POST",
                "/v1/customers",
                Customer,
                form=form(
                    {
                        "name": inp.name,
                        "email": inp.email,
                        "metadata": {CRM_ACCOUNT_ID: inp.crm_account_id, "currency": inp.currency},
                    }
                ),
                idempotency_key=f"crm-account/{inp.crm_account_id}/billing.customer",
            )
        except ApplicationError as exc:
            if exc.type != IDEMPOTENCY_ERROR:
                raise
            # Another run created it with the account as it read it then (another name or
            # email): that customer is the account's; search finds it once it has caught up.
            found = await self._customer_of(inp.crm_account_id)
            if found is not None:
                return found
            raise ApplicationError(
                f"billing customer of {inp.crm_account_id} is being created by another run",
                type="CUSTOMER_PENDING",
            ) from None
        return BillingCustomer(id=created.id, external_ref=inp.crm_account_id)

    async def _customer_of(self, crm_account_id: str) -> BillingCustomer | None:
        found = await self._billing.call(
            "GET",
            "/v1/customers/search",
            Customers,
            params={"query": metadata_query(**{CRM_ACCOUNT_ID: crm_account_id})},
        )
        ours = [c for c in found.data if c.metadata.get(CRM_ACCOUNT_ID) == crm_account_id]
        return BillingCustomer(id=ours[0].id, external_ref=crm_account_id) if ours else None

    @activity.defn(name="billing.create_invoice")
    async def create_invoice(self, inp: CreateInvoiceInput) -> BillingInvoice:
        """A draft invoice with one invoice item per line; every create has its own key, so a
        retry of this activity replays each step instead of creating it again."""
        rates = {bp: await self._tax_rate(bp) for bp in {li.tax_rate_bp for li in inp.lines}}
        draft = await self._billing.call(
            "POST",
            "/v1/invoices",
            Invoice,
            form=form(
                {
                    "customer": inp.customer_id,
                    "currency": inp.currency.lower(),
                    "collection_method": "send_invoice",
                    "days_until_due": InvoiceTerms(inp.payment_terms).days,
                    "auto_advance": False,
                    "pending_invoice_items_behavior": "exclude",
                    "metadata": {
                        **inp.metadata,
                        INVOICE_NUMBER: inp.number,
                        WORKFLOW_ID: _workflow_id(),
                    },
                }
            ),
            idempotency_key=idempotency_key("billing.create_invoice"),
        )
        for index, line in enumerate(inp.lines):
            rate = rates[line.tax_rate_bp]
            try:
                await self._add_line(inp, draft.id, index, line, rate)
            except ApplicationError as exc:
                # A refused line leaves its key unused: in case the kept rate id is what billing
                # refused (it lost or replaced the rate), the line goes again once with the rate
                # looked up afresh. Any other refusal is refused again.
                if not exc.non_retryable or rate is None:
                    raise
                self._rates.pop(line.tax_rate_bp, None)
                rates[line.tax_rate_bp] = await self._tax_rate(line.tax_rate_bp)
                await self._add_line(inp, draft.id, index, line, rates[line.tax_rate_bp])
        invoice = await self._billing.call("GET", path("/v1/invoices/{}", draft.id), Invoice)
        return _summary(invoice)

    @activity.defn(name="billing.finalize_invoice")
    async def finalize_invoice(self, inp: InvoiceNumberRef) -> BillingInvoice:
        invoice = await self._own_invoice(inp.number)
        if invoice is None:
            raise ApplicationError(
                f"billing has no invoice {inp.number} of this run",
                type="NOT_FOUND",
                non_retryable=True,
            )
        return _summary(await self.finalize(invoice))

    @activity.defn(name="billing.void_invoice")
    async def void_invoice(self, inp: InvoiceNumberRef) -> CompensationResult:
        """Undo this run's invoice with that number (also the compensation of creating it): a
        draft is deleted, an open invoice voided. An invoice another run made is never touched."""
        invoice = await self._own_invoice(inp.number)
        if invoice is None or invoice.status == "void":
            return CompensationResult(undone=False, description="no invoice to void")
        return await self.undo(invoice)

    @activity.defn(name="billing.get_invoice")
    async def get_invoice(self, inp: InvoiceNumberRef) -> BillingInvoice | None:
        invoice = await self._own_invoice(inp.number)
        return None if invoice is None else _summary(invoice)

    @activity.defn(name="billing.list_invoices")
    async def list_invoices(self, inp: ListInvoicesInput) -> BillingInvoiceDetails:
        """Every invoice finalized (issued) in `[finalized_from, finalized_before)`, page by page
        with Stripe's cursor."""
        params = {
            "limit": str(PAGE),
            "created[gte]": str(int((inp.finalized_from - FINALIZED_AFTER_DRAFT).timestamp())),
            "created[lt]": str(int(inp.finalized_before.timestamp())),
        }
        start, end = inp.finalized_from.timestamp(), inp.finalized_before.timestamp()
        found: list[BillingInvoiceDetail] = []
        async for invoice in self._pages(params):
            finalized = invoice.status_transitions.finalized_at
            if finalized is not None and start <= finalized < end:
                found.append(_detail(invoice))
        return BillingInvoiceDetails(invoices=found)

    @activity.defn(name="billing.list_invoices_page")
    async def list_invoices_page(self, inp: InvoicePageInput) -> InvoicePage:
        """One page of Stripe's list (newest `created` first) and, of it, the invoices finalized
        in the window; the reconciliation reads a day this way, one bounded result per page."""
        params = {
            "limit": str(inp.limit),
            "created[gte]": str(int((inp.finalized_from - FINALIZED_AFTER_DRAFT).timestamp())),
            "created[lt]": str(int(inp.finalized_before.timestamp())),
        }
        if inp.starting_after is not None:
            params["starting_after"] = inp.starting_after
        page = await self._billing.call("GET", "/v1/invoices", Invoices, params=params)
        start, end = inp.finalized_from.timestamp(), inp.finalized_before.timestamp()
        found = [
            _detail(invoice)
            for invoice in page.data
            if (finalized := invoice.status_transitions.finalized_at) is not None
            and start <= finalized < end
        ]
        more = page.has_more and bool(page.data)
        return InvoicePage(invoices=found, next_cursor=page.data[-1].id if more else None)

    @activity.defn(name="billing.get_invoice_by_id")
    async def get_invoice_by_id(self, inp: InvoiceIdRef) -> BillingInvoiceDetail | None:
        """The invoice, or None when billing has no invoice with that id."""
        try:
            # The id comes from the CRM.
            found = await self._billing.call(
                "GET", path("/v1/invoices/{}", inp.invoice_id), Invoice
            )
            return _detail(found)
        except ApplicationError as exc:
            if exc.type == MISSING:
                return None
            raise

    async def finalize(self, invoice: Invoice) -> Invoice:
        """`draft` → `open`; an invoice an earlier attempt finalized is left as it is."""
        if invoice.status != "draft":
            return invoice
        return await self._billing.call(
            "POST",
            path("/v1/invoices/{}/finalize", invoice.id),
            Invoice,
            form=form({"auto_advance": False}),
        )

    async def undo(self, invoice: Invoice) -> CompensationResult:
        """Stripe deletes a draft and voids a finalized invoice."""
        if invoice.status == "draft":
            await self._billing.call("DELETE", path("/v1/invoices/{}", invoice.id), Deleted)
            return CompensationResult(undone=True, description=f"deleted draft {invoice.id}")
        await self._billing.call("POST", path("/v1/invoices/{}/void", invoice.id), Invoice, form={})
        return CompensationResult(undone=True, description=f"voided invoice {invoice.id}")

    async def _add_line(
        self,
        inp: CreateInvoiceInput,
        invoice_id: str,
        index: int,
        line: BillingLine,
        rate: str | None,
    ) -> None:
        await self._billing.call(
            "POST",
            "/v1/invoiceitems",
            InvoiceItem,
            form=form(
                {
                    "customer": inp.customer_id,
                    "invoice": invoice_id,
                    "currency": inp.currency.lower(),
                    "description": line.description,
                    "quantity": line.quantity,
                    "unit_amount_decimal": line.unit_price_cents,
                    "tax_rates": [rate] if rate else None,
                    "metadata": {"line": index},
                }
            ),
            idempotency_key=idempotency_key(f"billing.create_invoice/line-{index}"),
        )

    async def _tax_rate(self, rate_bp: int) -> str | None:
        """The id of our exclusive tax rate of `rate_bp`, created once for the whole account."""
        if rate_bp == 0:
            return None
        kept = self._rates.get(rate_bp)
        if kept is not None and time.monotonic() - kept[1] < TAX_RATE_TTL.total_seconds():
            return kept[0]
        rate_id = await self._find_or_create_tax_rate(rate_bp)
        self._rates[rate_bp] = (rate_id, time.monotonic())
        return rate_id

    async def _find_or_create_tax_rate(self, rate_bp: int) -> str:
        listed = await self._billing.call(
            "GET", "/v1/tax_rates", TaxRates, params={"active": "true", "limit": str(PAGE)}
        )
        for rate in listed.data:
            if rate.metadata.get(RATE_BP) == str(rate_bp) and not rate.inclusive:
                return rate.id
        created = await self._billing.call(
            "POST",
            "/v1/tax_rates",
            TaxRate,
            form=form(
                {
                    "display_name": "Tax",
                    "percentage": _percentage(rate_bp),
                    "inclusive": False,
                    "metadata": {RATE_BP: rate_bp},
                }
            ),
            idempotency_key=f"tax-rate/{rate_bp}",
        )
        return created.id

    async def _own_invoice(self, number: str) -> Invoice | None:
        """This run's invoice with that number (metadata `workflow_id` is ours), never another
        run's: found by search, else among the invoices drafted since search may lag."""
        mine = {INVOICE_NUMBER: number, WORKFLOW_ID: _workflow_id()}

        def ours(invoice: Invoice) -> bool:
            meta = invoice.metadata or {}
            return all(meta.get(k) == v for k, v in mine.items()) and invoice.status != "deleted"

        found = await self._billing.call(
            "GET", "/v1/invoices/search", Invoices, params={"query": metadata_query(**mine)}
        )
        for invoice in found.data:
            if ours(invoice):
                return invoice
        since = int(time.time() - SEARCH_LAG.total_seconds())
        async for invoice in self._pages({"limit": str(PAGE), "created[gte]": str(since)}):
            if ours(invoice):
                return invoice
        return None

    async def _pages(self, params: dict[str, str]) -> AsyncIterator[Invoice]:
        cursor: str | None = None
        while True:
            page_params = params if cursor is None else {**params, "starting_after": cursor}
            page = await self._billing.call("GET", "/v1/invoices", Invoices, params=page_params)
            for invoice in page.data:
                yield invoice
            if not page.has_more or not page.data:
                return
            cursor = page.data[-1].id
