"""The application's runs as the benchmark starts them: each process on its happy path, with one
wait for a person at least (a vendor that needs procurement's approval, an invoice above the
finance threshold, a qualified lead asking for a discount above the limit), started through the
product's own start functions."""

import uuid
from datetime import UTC, date, datetime

from temporalio.client import Client

from domain import contract
from domain.invoice import InvoiceRequest, InvoiceTerms, LineItem
from domain.lead import LeadForm, Need, Timeline
from domain.subscription import BillingInterval, SubscriptionPlan, SubscriptionRequest
from domain.vendor import BankAccount, PaymentTerms, VendorApplication, VendorType
from runtime.settings import Settings
from starters.start import (
    StartOutcome,
    start_invoice,
    start_lead_to_cash,
    start_subscription,
    start_vendor_onboarding,
)

PROCESSES = ("vendor_onboarding", "invoice", "lead_to_cash")
# Workflow type -> the approval its happy path waits for, and who decides it.
APPROVALS = {
    contract.VENDOR_ONBOARDING: ("risk-review", "pat"),
    contract.INVOICE_GENERATION: ("finance-review", "fiona"),
    contract.LEAD_TO_CASH: ("discount-review", "sam"),
}


def _iban() -> str:
    bban = f"{uuid.uuid4().int % 10**18:018d}"
    digits = "".join(str(int(ch, 36)) for ch in bban + "DE00")
    return f"DE{98 - int(digits) % 97:02d}{bban}"


def vendor_application(key: str) -> VendorApplication:
    """A contractor: procurement must approve it."""
    return VendorApplication(
        application_id=key,
        legal_name=f"Bench Contracting {key} GmbH",
        tax_id=f"DE{uuid.uuid4().int % 10**9:09d}",
        country="DE",
        vendor_type=VendorType.CONTRACTOR,
        payment_terms=PaymentTerms.NET30,
        contact_name="Dana Bench",
        contact_email=f"dana.{key.lower()}@vendor.example",
        bank_account=BankAccount(iban=_iban(), bic="DEUTDEFFXXX"),
        requested_by="rory",
    )


def invoice_request(key: str, account_id: str, deal_id: str) -> InvoiceRequest:
    """Above the finance approval threshold."""
    return InvoiceRequest(
        invoice_number=key,
        crm_account_id=account_id,
        crm_deal_id=deal_id,
        lines=[
            LineItem(
                description="Enterprise licence",
                quantity=1,
                unit_price_cents=1_500_000,
                tax_rate_bp=1900,
            )
        ],
        currency="EUR",
        payment_terms=InvoiceTerms.NET30,
        issue_date=datetime.now(UTC).date(),
        requested_by="billing-service",
    )


def lead_form(key: str) -> LeadForm:
    """Qualified, and asking for a discount above the limit: sales-manager approval."""
    domain = f"{key.lower()}.example"
    return LeadForm(
        lead_id=key,
        email=f"cto@{domain}",
        name="Morgan Buyer",
        company=f"Initech {key}",
        domain=domain,
        budget_cents=5_000_000,
        authority=True,
        need=Need.HIGH,
        timeline=Timeline.NOW,
        seats=5,
        currency="EUR",
        requested_discount_bp=1500,
    )


def subscription_key(key: str) -> str:
    """The subscription id of a benchmark key."""
    return f"SUB-{key}"


def subscription_request(
    subscription_id: str, account_id: str, deal_id: str, anchor: date
) -> SubscriptionRequest:
    """Monthly, 20 seats: a period's invoice below the finance approval threshold, as most are."""
    return SubscriptionRequest(
        subscription_id=subscription_id,
        crm_account_id=account_id,
        crm_deal_id=deal_id,
        plan=SubscriptionPlan(
            seats=20,
            price_per_seat_cents=4_900,
            discount_bp=1000,
            tax_rate_bp=1900,
            currency="EUR",
            interval=BillingInterval.MONTHLY,
        ),
        anchor=anchor,
    )


class Starter:
    """Starts one run of a process by business key; invoices go to a pool of CRM deals."""

    def __init__(self, client: Client, settings: Settings, deals: list[tuple[str, str]]) -> None:
        self._client = client
        self._settings = settings
        self._deals = deals
        self._next_deal = 0

    async def start(self, process: str, key: str) -> StartOutcome:
        if process == "vendor_onboarding":
            return await start_vendor_onboarding(
                self._client, self._settings, vendor_application(key)
            )
        if process == "invoice":
            account_id, deal_id = self._next()
            request = invoice_request(key, account_id, deal_id)
            return await start_invoice(self._client, self._settings, request)
        if process == "subscription":  # its first period due now
            return await self.start_subscription(key, datetime.now(UTC).date())
        return await start_lead_to_cash(self._client, self._settings, lead_form(key))

    async def start_subscription(self, key: str, anchor: date) -> StartOutcome:
        account_id, deal_id = self._next()
        request = subscription_request(subscription_key(key), account_id, deal_id, anchor)
        return await start_subscription(self._client, self._settings, request)

    def _next(self) -> tuple[str, str]:
        account_id, deal_id = self._deals[self._next_deal % len(self._deals)]
        self._next_deal += 1
        return account_id, deal_id
