"""Subscriptions: what is billed each period, when each period starts, the changes people make,
and how a subscription stands. Each period is billed by an invoice run of its own."""

import calendar
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.invoice import InvoicePolicy, InvoiceSettled, InvoiceTerms, LineItem
from domain.money import CURRENCIES, MAX_AMOUNT_CENTS, format_amount, line_tax_cents
from domain.retries import RetryBudgets
from domain.validation import ascii_int

# A subscription id goes into its workflow id and into each period's invoice number
# (`<id>-P<period>`, at most 40 characters of the invoice number's alphabet).
SUBSCRIPTION_ID_PATTERN = r"^SUB-[A-Z0-9][A-Z0-9-]{0,25}$"
# Invoice numbers that start so are the subscriptions' periods: no other invoice may take one.
RESERVED_INVOICE_PREFIX = "SUB-"
MAX_PERIODS = 999_999


class BillingInterval(StrEnum):
    MONTHLY = "monthly"
    ANNUAL = "annual"

    @property
    def months(self) -> int:
        return 1 if self is BillingInterval.MONTHLY else 12


class SubscriptionStatus(StrEnum):
    """The `SubscriptionStatus` search attribute's values."""

    ACTIVE = "active"
    PAST_DUE = "past_due"  # a period's invoice is overdue
    SUSPENDED = "suspended"  # overdue past the policy's grace: the portal account is suspended
    PAUSED = "paused"  # no periods are billed until it is resumed
    CANCELLED = "cancelled"


class SubscriptionPlan(BaseModel):
    """What one period bills: the seats at the price per seat, less the discount, plus tax."""

    model_config = ConfigDict(extra="forbid")

    seats: int = Field(gt=0, le=100_000)
    price_per_seat_cents: int = Field(gt=0, le=MAX_AMOUNT_CENTS)
    discount_bp: int = Field(default=0, ge=0, le=10_000, description="1000 = 10 % off.")
    tax_rate_bp: int = Field(ge=0, le=10_000, description="Tax rate in basis points.")
    currency: str
    interval: BillingInterval

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError("unknown currency: use an ISO 4217 code such as EUR or USD")
        return value

    @model_validator(mode="after")
    def _total_fits(self) -> "SubscriptionPlan":
        if self.period_total_cents() > MAX_AMOUNT_CENTS:
            raise ValueError(f"a period's total exceeds {MAX_AMOUNT_CENTS} minor units")
        return self

    @property
    def discounted_price_cents(self) -> int:
        """The price per seat after the discount, rounded down to a whole minor unit."""
        return self.price_per_seat_cents * (10_000 - self.discount_bp) // 10_000

    def line(self) -> LineItem:
        percent = f", {self.discount_bp / 100:g} % off" if self.discount_bp else ""
        return LineItem(
            description=f"Subscription, {self.seats} seats, {self.interval.value}{percent}",
            quantity=self.seats,
            unit_price_cents=self.discounted_price_cents,
            tax_rate_bp=self.tax_rate_bp,
        )

    def period_total_cents(self) -> int:
        net = self.seats * self.discounted_price_cents
        return net + line_tax_cents(self.seats, self.discounted_price_cents, self.tax_rate_bp)

    def arithmetic(self) -> str:
        """How a period's amount comes about, for `status` and the CLI."""
        line, money = self.line(), self._money
        off = ""
        if self.discount_bp:
            off = f", {self.discount_bp / 100:g} % off: {money(line.unit_price_cents)} each"
        return (
            f"{self.seats} seats at {money(self.price_per_seat_cents)}{off} = "
            f"{money(line.net_cents)} + tax {money(line.tax_cents)} = "
            f"{money(line.net_cents + line.tax_cents)}"
        )

    def _money(self, cents: int) -> str:
        return format_amount(cents, self.currency)


class SubscriptionRequest(BaseModel):
    """What a service (or lead-to-cash) asks for; the body of `POST /v1/subscriptions`."""

    model_config = ConfigDict(extra="forbid")

    subscription_id: str = Field(pattern=SUBSCRIPTION_ID_PATTERN)
    crm_account_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    crm_deal_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    plan: SubscriptionPlan
    anchor: date = Field(description="The first period's start; later ones follow from it.")
    payment_terms: InvoiceTerms = InvoiceTerms.NET30
    # The customer's portal accounts (their `external_ref`): suspended while unpaid.
    portal_account_ref: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
    )
    requested_by: str = Field(default="billing-service", min_length=1, max_length=64)


class SubscriptionPolicy(BaseModel):
    """Settings the starter copies into the input (the workflow never reads configuration)."""

    # The oldest anchor a start accepts: a later start must not bill years of past periods.
    max_anchor_age: timedelta = timedelta(days=31)
    # When set, periods are this long from the first period's start instead of calendar
    # months or years from the anchor (tests and demos bill in seconds).
    period_length: timedelta | None = None
    # An overdue period's invoice makes the subscription past due; this long after that, it is
    # suspended until every open invoice is paid.
    suspend_after: timedelta = timedelta(days=14)
    sales_role: str = "sales"  # may change seats and the plan
    finance_role: str = "finance"  # may pause, resume and cancel
    invoice: InvoicePolicy = InvoicePolicy()
    retries: RetryBudgets = RetryBudgets()


def anchor_problem(anchor: date, today: date, policy: SubscriptionPolicy) -> str | None:
    """Why a start with this anchor is refused, if it is."""
    if anchor < today - policy.max_anchor_age:
        days = policy.max_anchor_age.days
        return f"more than {days} days in the past; start from a recent period"
    return None


def add_months(anchor: date, months: int) -> date:
    """`anchor` moved by `months`, on the anchor's day or the month's last day (31 Jan → 28 or
    29 Feb → 31 Mar: always the anchor's day where the month has it)."""
    year, month = divmod(anchor.month - 1 + months, 12)
    year += anchor.year
    last = calendar.monthrange(year, month + 1)[1]
    return anchor.replace(year=year, month=month + 1, day=min(anchor.day, last))


def first_period_at(anchor: date, started: datetime, policy: SubscriptionPolicy) -> datetime:
    """When the first period starts: the anchor's midnight (UTC), or, with a policy length, the
    moment the subscription started."""
    if policy.period_length is not None:
        return started
    return datetime.combine(anchor, time.min, tzinfo=UTC)


def period_start(
    first: datetime, interval: BillingInterval, period: int, policy: SubscriptionPolicy
) -> datetime:
    """When period `period` (0 is the first) starts, in UTC."""
    if policy.period_length is not None:
        return first + policy.period_length * period
    moved = add_months(first.date(), interval.months * period)
    return datetime.combine(moved, time.min, tzinfo=UTC)


def period_invoice_number(subscription_id: str, period: int) -> str:
    """The invoice number of a period: the same on every attempt, reset and continue-as-new."""
    if not 0 <= period <= MAX_PERIODS:
        raise ValueError(f"period {period} is out of range")
    return f"{subscription_id}-P{period + 1}"


class OpenPeriod(BaseModel):
    """A billed period whose invoice is not settled yet."""

    period: int
    invoice_workflow_id: str
    total_cents: int
    overdue_since: datetime | None = None  # set when its invoice run says it is overdue


class SubscriptionState(BaseModel):
    """What a run carries into the next one at a period boundary (continue-as-new): the plan,
    the next period to bill and the periods still open; never the history of earlier periods."""

    plan: SubscriptionPlan
    first_period_at: datetime | None = None  # set by the first run
    next_period: int = 0
    next_plan: SubscriptionPlan | None = None  # a change that applies from the next period
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE
    paused: bool = False
    cancel_at_period_end: bool = False
    open_periods: list[OpenPeriod] = []
    suspended: bool = False  # the portal account is suspended
    periods_billed: int = 0
    periods_paid: int = 0
    periods_skipped: int = 0  # boundaries that passed while paused
    early_settlements: list[InvoiceSettled] = []  # for periods a reset will bill again
    tell_parent: InvoiceSettled | None = None  # the first period's, for the starting run


class SubscriptionInput(BaseModel):
    request: SubscriptionRequest
    policy: SubscriptionPolicy = SubscriptionPolicy()
    # Set by the run itself when it continues as new at a period boundary; never by a starter.
    carried: SubscriptionState | None = None


class PlanChange(BaseModel):
    """Update `change_plan` (sales): the new seats and price apply from the next period."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field(min_length=1, max_length=64, description="Who asks: a directory id.")
    seats: int | None = Field(default=None, gt=0, le=100_000)
    price_per_seat_cents: int | None = Field(default=None, gt=0, le=MAX_AMOUNT_CENTS)
    discount_bp: int | None = Field(default=None, ge=0, le=10_000)

    @model_validator(mode="after")
    def _changes_something(self) -> "PlanChange":
        if self.seats is None and self.price_per_seat_cents is None and self.discount_bp is None:
            raise ValueError("name at least one of seats, price_per_seat_cents, discount_bp")
        return self

    def applied_to(self, plan: SubscriptionPlan) -> SubscriptionPlan:
        changes = self.model_dump(exclude={"by"}, exclude_none=True)
        return SubscriptionPlan.model_validate({**plan.model_dump(), **changes})


class LifecycleChange(BaseModel):
    """Updates `pause`, `resume` and `cancel` (finance)."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field(min_length=1, max_length=64, description="Who asks: a directory id.")
    reason: str = Field(default="", max_length=500)
    at_period_end: bool = Field(default=True, description="`cancel` only: or now.")


class SubscriptionView(BaseModel):
    """How a subscription stands, in its `status` query and `backoffice subscriptions show`."""

    subscription_id: str
    status: SubscriptionStatus
    plan: str  # the arithmetic of one period
    next_plan: str | None
    next_period: int
    next_billing_at: datetime | None  # None once cancelled
    open_cents: int
    open_invoices: list[str]
    cancel_at_period_end: bool
    periods_billed: int
    periods_paid: int


class ChangeResult(BaseModel):
    """What an update changed, as the caller sees it at once."""

    subscription: SubscriptionView
    effective: str  # "now" or "from period N (at <time>)"


class SubscriptionResult(BaseModel):
    subscription_id: str
    status: SubscriptionStatus
    periods_billed: int
    periods_paid: int
    open_invoices: list[str]


def period_of_invoice(subscription_id: str, invoice_number: str) -> int | None:
    """The period (0 is the first) whose invoice has this number, or None if it is not one of
    this subscription's."""
    digits = invoice_number.removeprefix(f"{subscription_id}-P")
    number = ascii_int(digits, 7) if digits != invoice_number else None
    if number is None or str(number) != digits or not 1 <= number <= MAX_PERIODS + 1:
        return None
    return number - 1
