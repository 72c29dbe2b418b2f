"""Invoice generation: the request, the policy it runs under, payments, voiding, the result."""

from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.approvals import ApprovalTimeouts, AttentionPolicy
from domain.money import CURRENCIES, MAX_AMOUNT_CENTS, line_tax_cents
from domain.retries import RetryBudgets

INVOICE_NUMBER_PATTERN = r"^[A-Z0-9][A-Z0-9-]{0,39}$"
# An id of a record in another system, as it may appear in a request.
REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class InvoiceTerms(StrEnum):
    IMMEDIATE = "immediate"
    NET30 = "net30"
    NET60 = "net60"

    @property
    def days(self) -> int:
        return {"immediate": 0, "net30": 30, "net60": 60}[self.value]


class LineItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1, max_length=200)
    quantity: int = Field(gt=0, le=1_000_000)
    unit_price_cents: int = Field(ge=0, le=MAX_AMOUNT_CENTS)
    tax_rate_bp: int = Field(ge=0, le=10_000, description="Tax rate in basis points (1900 = 19 %).")

    @property
    def net_cents(self) -> int:
        return self.quantity * self.unit_price_cents

    @property
    def tax_cents(self) -> int:
        return line_tax_cents(self.quantity, self.unit_price_cents, self.tax_rate_bp)


class InvoiceTotals(BaseModel):
    subtotal_cents: int
    tax_cents: int
    total_cents: int


class InvoiceRequest(BaseModel):
    """What a service (or lead-to-cash) asks to invoice; the body of a start request."""

    model_config = ConfigDict(extra="forbid")

    invoice_number: str = Field(pattern=INVOICE_NUMBER_PATTERN)
    # References into the CRM: they go into its URLs, so letters, digits, `_` and `-` only.
    crm_account_id: str = Field(pattern=REFERENCE_PATTERN)
    crm_deal_id: str = Field(pattern=REFERENCE_PATTERN)
    lines: list[LineItem] = Field(min_length=1, max_length=200)
    currency: str
    payment_terms: InvoiceTerms
    issue_date: date
    requested_by: str = Field(default="billing-service", min_length=1, max_length=64)

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError("unknown currency: use an ISO 4217 code such as EUR or USD")
        return value

    @model_validator(mode="after")
    def _total_fits(self) -> "InvoiceRequest":
        if self.totals().total_cents > MAX_AMOUNT_CENTS:
            raise ValueError(f"the invoice total exceeds {MAX_AMOUNT_CENTS} minor units")
        return self

    def totals(self) -> InvoiceTotals:
        subtotal = sum(line.net_cents for line in self.lines)
        tax = sum(line.tax_cents for line in self.lines)
        return InvoiceTotals(subtotal_cents=subtotal, tax_cents=tax, total_cents=subtotal + tax)

    @property
    def due_date(self) -> date:
        return self.issue_date + timedelta(days=self.payment_terms.days)


class InvoicePolicy(BaseModel):
    """Settings the starter copies into the input (the workflow never reads configuration)."""

    approval_threshold_cents: int = Field(default=1_000_000, ge=0)
    approver_role: str = "finance"
    escalation_role: str = "finance-lead"
    collections_role: str = "collections"
    approval_timeouts: ApprovalTimeouts = ApprovalTimeouts()
    attention: AttentionPolicy = AttentionPolicy()  # the review queue: who resolves, when reminded
    # Reminders at these offsets from the moment payment is due (negative: before it);
    # after the last one the invoice is overdue and collections is told.
    dunning_offsets: list[timedelta] = [timedelta(days=-3), timedelta(days=1), timedelta(days=7)]
    # 0: no limit but the compensation budget of `retries`.
    compensation_attempts: int = Field(default=0, ge=0)
    retries: RetryBudgets = RetryBudgets()


class InvoiceGenerationInput(BaseModel):
    request: InvoiceRequest
    policy: InvoicePolicy = InvoicePolicy()


class PaymentReceived(BaseModel):
    """Signal `payment_received` (fed by billing's `invoice.paid` and `invoice.updated` events).

    With `paid_to_date_cents` (what billing says is paid so far), the payment counts only what it
    adds to the payments already seen, so overlapping events never count money twice."""

    payment_id: str = Field(min_length=1)
    amount_cents: int = Field(gt=0)
    paid_to_date_cents: int | None = Field(default=None, gt=0)


class Payment(BaseModel):
    payment_id: str
    amount_cents: int
    received_at: datetime


class VoidInput(BaseModel):
    """Update `void`: the caller has proven who the approver is."""

    approver: str = Field(min_length=1)
    approver_roles: list[str] = []
    reason: str = Field(min_length=1, max_length=500)


class VoidResult(BaseModel):
    invoice_number: str
    status: str


class InvoiceResult(BaseModel):
    invoice_number: str
    invoice_id: str
    customer_id: str
    status: str
    total_cents: int
    amount_paid_cents: int
    payments: list[Payment]
    reminders_sent: int


class InvoiceSettled(BaseModel):
    """Signal `invoice_settled`: an invoice run started as a child tells its parent how it
    ended, so that a parent reset past the child's start follows the child it already has."""

    invoice_workflow_id: str
    result: InvoiceResult | None = None
    failure_code: str | None = None


class InvoiceOverdue(BaseModel):
    """Signal `invoice_overdue`: an invoice run started by a subscription tells it that the
    invoice is overdue (after the last reminder), so the subscription can go past due."""

    invoice_workflow_id: str
    open_cents: int
