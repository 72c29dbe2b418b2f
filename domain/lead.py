"""Lead-to-cash: the web-form lead, the policy it runs under, its signals and its result.

Qualification scores (documented once, here; threshold in settings):
- budget at or above the policy's `budget_floor_cents`: 30
- the contact has buying authority: 20
- need: high 20, medium 10, low 0
- timeline: now 20, quarter 10, year 5, unknown 0
- company size from enrichment: 500+ employees 15, 50+ employees 10, fewer 0
- industry from enrichment in the policy's target industries: 10
A lead with a score at or above `qualify_at` (default 60) is qualified.
"""

import hashlib
from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.approvals import ApprovalTimeouts, AttentionPolicy
from domain.invoice import InvoicePolicy, InvoiceTerms
from domain.money import CURRENCIES
from domain.retries import RetryBudgets
from domain.subscription import SubscriptionPolicy
from domain.vendor import BUSINESS_KEY_PATTERN, EMAIL_PATTERN


def lead_invoice_number(lead_id: str) -> str:
    """The invoice number of a lead's deal: a readable part of the lead id plus 13 hex digits of
    its SHA-256, so ids that differ only in case, `_` or `-`, or past the 40th character, get
    different numbers (the old derivation folded those together: issue 15 item 4)."""
    readable = lead_id.upper().replace("_", "-")[:22]
    digest = hashlib.sha256(lead_id.encode()).hexdigest()[:13].upper()
    return f"L2C-{readable}-{digest}"


def lead_subscription_id(lead_id: str) -> str:
    """The subscription of a lead's recurring deal: readable part and digest as the invoice's."""
    readable = lead_id.upper().replace("_", "-")[:12]
    digest = hashlib.sha256(lead_id.encode()).hexdigest()[:13].upper()
    return f"SUB-{readable}-{digest}"


class Billing(StrEnum):
    """How the deal is billed: one invoice, or a subscription billed each period."""

    ONE_OFF = "one_off"
    MONTHLY = "monthly"
    ANNUAL = "annual"


class Need(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Timeline(StrEnum):
    NOW = "now"
    QUARTER = "quarter"
    YEAR = "year"
    UNKNOWN = "unknown"


class DealStage(StrEnum):
    QUALIFICATION = "qualification"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    CLOSED_WON = "closed_won"
    CLOSED_LOST = "closed_lost"


class LeadForm(BaseModel):
    """A web-form submission; the body of `POST /v1/leads`."""

    model_config = ConfigDict(extra="forbid")

    lead_id: str = Field(pattern=BUSINESS_KEY_PATTERN, description="The form submission's id.")
    email: str = Field(pattern=EMAIL_PATTERN, max_length=254)
    name: str = Field(min_length=1, max_length=200)
    company: str = Field(min_length=1, max_length=200)
    domain: str = Field(pattern=r"^[a-z0-9-]+(\.[a-z0-9-]+)+$", max_length=253)
    source: str = Field(default="web-form", max_length=64)
    budget_cents: int = Field(ge=0, le=10**13)
    authority: bool
    need: Need
    timeline: Timeline
    seats: int = Field(gt=0, le=100_000)
    currency: str = "EUR"
    requested_discount_bp: int = Field(default=0, ge=0, le=10_000)
    billing: Billing = Billing.ONE_OFF

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError("unknown currency: use an ISO 4217 code such as EUR or USD")
        return value


class LeadPolicy(BaseModel):
    """Settings the starter copies into the input."""

    qualify_at: int = 60
    budget_floor_cents: int = 1_000_000
    target_industries: list[str] = ["software", "financial services", "manufacturing"]
    sales_reps: list[str] = ["ana@company.example", "ben@company.example"]
    price_per_seat_cents: int = 120_000
    tax_rate_bp: int = 1900
    payment_terms: InvoiceTerms = InvoiceTerms.NET30
    discount_limit_bp: int = 1000
    approver_role: str = "sales-manager"
    escalation_role: str = "sales-director"
    approval_timeouts: ApprovalTimeouts = ApprovalTimeouts()
    attention: AttentionPolicy = AttentionPolicy()  # the review queue: who resolves, when reminded
    nurture_offsets: list[timedelta] = [timedelta(0), timedelta(days=3), timedelta(days=10)]
    owner_reminder_after: timedelta = timedelta(days=7)
    stale_after: timedelta = timedelta(days=30)
    signature_reminder_after: timedelta = timedelta(days=3)
    signature_timeout: timedelta = timedelta(days=14)
    compensation_attempts: int = 0
    retries: RetryBudgets = RetryBudgets()
    invoice: InvoicePolicy = InvoicePolicy()
    subscription: SubscriptionPolicy = SubscriptionPolicy()


class LeadToCashInput(BaseModel):
    form: LeadForm
    policy: LeadPolicy = LeadPolicy()


class Company(BaseModel):
    """Enrichment's view of a company (None fields when enrichment had nothing)."""

    domain: str
    name: str | None = None
    employees: int | None = None
    industry: str | None = None
    country: str | None = None


class Qualification(BaseModel):
    score: int
    qualified: bool
    reasons: list[str]


class DealStageChanged(BaseModel):
    """Signal `deal_stage_changed`, fed by the CRM's `deal.stage_changed` webhook."""

    deal_id: str
    stage: DealStage
    previous_stage: str | None = None


class ContractSigned(BaseModel):
    """Signal `contract_signed`, fed by e-signature's `envelope.completed` webhook."""

    envelope_id: str


class LeadToCashResult(BaseModel):
    lead_id: str
    outcome: str
    crm_lead_id: str
    score: int
    deal_id: str | None = None
    owner: str | None = None
    envelope_id: str | None = None
    crm_account_id: str | None = None
    billing_customer_id: str | None = None
    invoice_workflow_id: str | None = None  # a subscription's: its first period's
    subscription_workflow_id: str | None = None
    invoice_id: str | None = None
    welcome_message_id: str | None = None
    portal_account_id: str | None = None


NEED_POINTS = {Need.HIGH: 20, Need.MEDIUM: 10, Need.LOW: 0}
TIMELINE_POINTS = {Timeline.NOW: 20, Timeline.QUARTER: 10, Timeline.YEAR: 5, Timeline.UNKNOWN: 0}


def qualify(form: LeadForm, company: Company, policy: LeadPolicy) -> Qualification:
    """The scoring rules of this module's docstring; pure, so a workflow may call it."""
    points: list[tuple[int, str]] = []
    if form.budget_cents >= policy.budget_floor_cents:
        points.append((30, "budget"))
    if form.authority:
        points.append((20, "authority"))
    points.append((NEED_POINTS[form.need], f"need {form.need.value}"))
    points.append((TIMELINE_POINTS[form.timeline], f"timeline {form.timeline.value}"))
    employees = company.employees or 0
    size = 15 if employees >= 500 else 10 if employees >= 50 else 0
    points.append((size, f"{employees} employees" if company.employees else "size unknown"))
    if company.industry and company.industry in policy.target_industries:
        points.append((10, f"industry {company.industry}"))
    score = sum(p for p, _ in points)
    reasons = [f"{why} +{p}" for p, why in points if p]
    return Qualification(score=score, qualified=score >= policy.qualify_at, reasons=reasons)


def owner_for(lead_id: str, reps: list[str]) -> str:
    """The sales rep who owns a lead's deal: spread evenly over the reps, and the same rep for
    the same lead every time (a retry or a reset of the run must send the same deal)."""
    digest = hashlib.sha256(lead_id.encode()).digest()
    return reps[int.from_bytes(digest[:8], "big") % len(reps)]
