"""Activity inputs and results: one model each, shared by the workflows and the activities."""

from datetime import date, datetime

from pydantic import BaseModel

from domain.vendor import BankAccount, PaymentTerms, VendorType


class CompensationResult(BaseModel):
    """What a compensation did: `undone` is False when there was nothing to undo."""

    undone: bool
    description: str


class ValidateVendorInput(BaseModel):
    tax_id: str
    country: str
    vendor_type: VendorType
    payment_terms: PaymentTerms


class ValidateVendorResult(BaseModel):
    valid: bool


class CreateVendorInput(BaseModel):
    external_ref: str
    legal_name: str
    tax_id: str
    country: str
    vendor_type: VendorType
    payment_terms: PaymentTerms
    contact_email: str
    bank_account: BankAccount


class Vendor(BaseModel):
    id: str
    external_ref: str
    status: str


class VendorRef(BaseModel):
    external_ref: str


class AddApprovedSupplierInput(BaseModel):
    vendor_id: str


class SupplierListEntry(BaseModel):
    id: str
    vendor_id: str
    status: str


class RemoveApprovedSupplierInput(BaseModel):
    external_ref: str


class CreatePortalAccountInput(BaseModel):
    external_ref: str
    vendor_id: str
    display_name: str
    contact_email: str


class PortalAccount(BaseModel):
    id: str
    external_ref: str
    status: str


class PortalAccountRef(BaseModel):
    external_ref: str


class PortalAccounts(BaseModel):
    accounts: list[PortalAccount]


class SendEmailInput(BaseModel):
    """`notification` names the message within its workflow; it makes the idempotency key."""

    notification: str
    to: str
    subject: str
    body: str
    template: str
    business_key: str


class SentEmail(BaseModel):
    id: str
    status: str


class NotifyRoleInput(BaseModel):
    """An email to every approver holding `role` (resolved from the directory by the activity)."""

    notification: str
    role: str
    subject: str
    body: str
    template: str
    business_key: str


class NotifyRoleResult(BaseModel):
    message_ids: list[str]


class CrmAccountRef(BaseModel):
    account_id: str


class CrmAccount(BaseModel):
    id: str
    name: str
    billing_email: str
    billing_contact_name: str = ""
    type: str = "prospect"


class CrmDealRef(BaseModel):
    deal_id: str


class UpdateDealInput(BaseModel):
    deal_id: str
    account_id: str | None = None
    invoice_id: str | None = None
    invoice_status: str | None = None
    stage: str | None = None
    note: str | None = None


class CrmDeal(BaseModel):
    id: str
    stage: str
    invoice_id: str | None = None
    invoice_status: str | None = None


class EnsureCustomerInput(BaseModel):
    crm_account_id: str
    name: str
    email: str
    currency: str


class BillingCustomer(BaseModel):
    id: str
    external_ref: str


class BillingLine(BaseModel):
    description: str
    quantity: int
    unit_price_cents: int
    tax_rate_bp: int


class CreateInvoiceInput(BaseModel):
    customer_id: str
    number: str
    currency: str
    lines: list[BillingLine]
    payment_terms: str
    due_date: str
    metadata: dict[str, str] = {}


class BillingInvoice(BaseModel):
    id: str
    number: str
    status: str
    total_cents: int
    amount_paid_cents: int = 0
    amount_due_cents: int = 0


class InvoiceNumberRef(BaseModel):
    number: str


class ListInvoicesInput(BaseModel):
    """Billing invoices finalized (issued) at or after `finalized_from`, before
    `finalized_before`."""

    finalized_from: datetime
    finalized_before: datetime


class BillingInvoiceDetail(BaseModel):
    """A billing invoice as reconciliation and the accounting export read it."""

    id: str
    number: str
    status: str
    customer_id: str
    currency: str
    subtotal_cents: int
    tax_cents: int
    total_cents: int
    amount_paid_cents: int
    amount_due_cents: int
    due_date: date | None = None
    metadata: dict[str, str] = {}
    created_at: datetime
    finalized_at: datetime | None = None
    paid_at: datetime | None = None
    voided_at: datetime | None = None


class BillingInvoiceDetails(BaseModel):
    invoices: list[BillingInvoiceDetail]


class InvoicePageInput(BaseModel):
    """One page of billing's invoice list (`limit` objects after `starting_after`), of which the
    invoices finalized in `[finalized_from, finalized_before)` are kept."""

    finalized_from: datetime
    finalized_before: datetime
    starting_after: str | None = None
    limit: int = 100


class InvoicePage(BaseModel):
    """The page's invoices of the window; `next_cursor` is the id of the page's last listed
    object (None when billing has no more)."""

    invoices: list[BillingInvoiceDetail]
    next_cursor: str | None


class InvoiceIdRef(BaseModel):
    invoice_id: str


class ExportInvoicesInput(BaseModel):
    """The day's invoices, written as `invoices-<day>.csv` for the accounting import."""

    day: date
    invoices: list[BillingInvoiceDetail]


class CaptureLeadInput(BaseModel):
    email: str
    name: str
    company: str
    domain: str
    source: str
    form: dict[str, str | int | bool]


class CrmLead(BaseModel):
    id: str
    submissions: int = 1


class AssignOwnerInput(BaseModel):
    reps: list[str]


class DealOwner(BaseModel):
    email: str


class CreateDealInput(BaseModel):
    external_ref: str
    lead_id: str
    name: str
    amount_cents: int
    currency: str
    owner: str
    discount_bp: int


class RestoreDealStageInput(BaseModel):
    """Compensation: the deal goes back to the stage it had, with a note saying why."""

    deal_id: str
    stage: str
    note: str


class CreateAccountInput(BaseModel):
    name: str
    domain: str
    billing_email: str
    billing_contact_name: str


class CompanyRef(BaseModel):
    domain: str


class SendEnvelopeInput(BaseModel):
    external_ref: str
    document_name: str
    document_text: str
    signer_name: str
    signer_email: str


class Envelope(BaseModel):
    id: str
    status: str
    external_ref: str | None = None


class EnvelopeRef(BaseModel):
    external_ref: str
