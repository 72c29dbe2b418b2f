"""Billing activities: customers and invoices (draft, open, void), and the day's invoices."""

from urllib.parse import quote

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.http import SystemClient, idempotency_key
from domain.records import (
    BillingCustomer,
    BillingInvoice,
    BillingInvoiceDetail,
    BillingInvoiceDetails,
    CompensationResult,
    CreateInvoiceInput,
    EnsureCustomerInput,
    InvoiceIdRef,
    InvoiceNumberRef,
    ListInvoicesInput,
)


class _Customers(BaseModel):
    customers: list[BillingCustomer]


class _Invoices(BaseModel):
    invoices: list[BillingInvoice]


class BillingActivities:
    def __init__(self, billing: SystemClient) -> None:
        self._billing = billing

    @activity.defn(name="billing.find_or_create_customer")
    async def find_or_create_customer(self, inp: EnsureCustomerInput) -> BillingCustomer:
        """The billing customer of a CRM account: found by reference, else created once."""
        found = await self._billing.call(
            "GET", "/customers", _Customers, params={"external_ref": inp.crm_account_id}
        )
        if found.customers:
            return found.customers[0]
        return await self._billing.call(
            "POST",
            "/customers",
            BillingCustomer,
            json={
                "external_ref": inp.crm_account_id,
                "name": inp.name,
                "email": inp.email,
                "currency": inp.currency,
            },
            idempotency_key=idempotency_key(f"billing.customer/{inp.crm_account_id}"),
        )

    @activity.defn(name="billing.create_invoice")
    async def create_invoice(self, inp: CreateInvoiceInput) -> BillingInvoice:
        return await self._billing.call(
            "POST",
            "/invoices",
            BillingInvoice,
            json=inp.model_dump(mode="json"),
            idempotency_key=idempotency_key("billing.create_invoice"),
        )

    @activity.defn(name="billing.finalize_invoice")
    async def finalize_invoice(self, inp: InvoiceNumberRef) -> BillingInvoice:
        invoice = await self._by_number(inp.number)
        if invoice is None:
            raise ApplicationError(
                f"billing has no invoice {inp.number}", type="NOT_FOUND", non_retryable=True
            )
        if invoice.status != "draft":  # finalized before: a retry, or a reset of the run
            return invoice
        return await self._billing.call("POST", f"/invoices/{invoice.id}/finalize", BillingInvoice)

    @activity.defn(name="billing.void_invoice")
    async def void_invoice(self, inp: InvoiceNumberRef) -> CompensationResult:
        """Void the invoice with this number (also the compensation of creating it)."""
        invoice = await self._by_number(inp.number)
        if invoice is None or invoice.status == "void":
            return CompensationResult(undone=False, description="no invoice to void")
        await self._billing.call("POST", f"/invoices/{invoice.id}/void", BillingInvoice)
        return CompensationResult(undone=True, description=f"voided invoice {invoice.id}")

    @activity.defn(name="billing.get_invoice")
    async def get_invoice(self, inp: InvoiceNumberRef) -> BillingInvoice | None:
        return await self._by_number(inp.number)

    @activity.defn(name="billing.list_invoices")
    async def list_invoices(self, inp: ListInvoicesInput) -> BillingInvoiceDetails:
        """Every invoice finalized (issued) in `[finalized_from, finalized_before)`."""
        return await self._billing.call(
            "GET",
            "/invoices",
            BillingInvoiceDetails,
            params={
                "finalized_from": inp.finalized_from.isoformat(),
                "finalized_before": inp.finalized_before.isoformat(),
            },
        )

    @activity.defn(name="billing.get_invoice_by_id")
    async def get_invoice_by_id(self, inp: InvoiceIdRef) -> BillingInvoiceDetail | None:
        """The invoice, or None when billing has no invoice with that id."""
        try:
            # The id comes from the CRM: quoted, so it cannot reach another path.
            path = f"/invoices/{quote(inp.invoice_id, safe='')}"
            return await self._billing.call("GET", path, BillingInvoiceDetail)
        except ApplicationError as exc:
            if exc.type == "NOT_FOUND":
                return None
            raise

    async def _by_number(self, number: str) -> BillingInvoice | None:
        found = await self._billing.call("GET", "/invoices", _Invoices, params={"number": number})
        return found.invoices[0] if found.invoices else None
