"""Daily reconciliation: which day a run covers, what it fixed in the CRM, what it exported.

The day's invoices are the billing invoices *issued* (finalized: ``finalized_at``) during that
calendar day in the configured time zone, ``[00:00, next day 00:00)`` local time, whatever their
status now (open, paid or void). Drafts are not issued yet and belong to no day; a draft voided
before it was sent never does. A scheduled run covers the day *before* the local date of its
scheduled time: the 02:00 run of March 5 reconciles March 4.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator

from domain.records import BillingInvoiceDetail, CrmDeal
from domain.status import WorkflowStatus

# Metadata key InvoiceGeneration sets on every billing invoice it creates.
CRM_DEAL_KEY = "crm_deal_id"
# How many unresolved invoices the `attention` line names before it says "and N more".
NAMED_IN_ATTENTION = 5


class UnknownTimeZone(ValueError):
    """Not an IANA time zone name this machine knows."""


def time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimeZone(
            f"unknown time zone {name!r}: use an IANA name such as UTC or Europe/Berlin"
        ) from None


def day_covered(scheduled_at: datetime, zone: str) -> date:
    """The day a run scheduled at `scheduled_at` reconciles: the local day before it."""
    return scheduled_at.astimezone(time_zone(zone)).date() - timedelta(days=1)


def day_bounds(day: date, zone: str) -> tuple[datetime, datetime]:
    """The local day as UTC instants, start included, end excluded (23 or 25 hours on DST days)."""
    tz = time_zone(zone)
    start = datetime.combine(day, time(), tz)
    end = datetime.combine(day + timedelta(days=1), time(), tz)
    return start.astimezone(UTC), end.astimezone(UTC)


class ReconciliationPolicy(BaseModel):
    """Settings the starter (or the schedule) copies into the input."""

    time_zone: str = "UTC"
    # How long one system call (or the export) may keep retrying before the run gives up on it.
    give_up_after: timedelta = Field(default=timedelta(minutes=15), gt=timedelta(0))

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        time_zone(value)
        return value


class ReconciliationInput(BaseModel):
    """`day` for a manual run; a scheduled run leaves it out and covers the day before its
    scheduled time (`TemporalScheduledStartTime`)."""

    day: date | None = None
    policy: ReconciliationPolicy = ReconciliationPolicy()


class DealFix(BaseModel):
    """A CRM deal that lagged behind billing, and what reconciliation set on it."""

    deal_id: str
    invoice_id: str
    invoice_number: str
    invoice_status: str
    was_invoice_id: str | None
    was_invoice_status: str | None


class UnresolvedInvoice(BaseModel):
    """An invoice of the day whose CRM side reconciliation could not fix; a person must look."""

    invoice_id: str
    invoice_number: str
    crm_deal_id: str | None
    code: str
    reason: str


class ExportedFile(BaseModel):
    path: str
    rows: int
    sha256: str
    changed: bool


class ReconciliationResult(BaseModel):
    day: date
    time_zone: str
    invoices: int
    in_sync: int
    fixed: list[DealFix]
    unresolved: list[UnresolvedInvoice]
    export: ExportedFile


class ReconciliationStatus(WorkflowStatus):
    """The `status` query: the common fields, plus what this run fixed and could not fix."""

    day: date | None = None
    time_zone: str = "UTC"
    fixed: list[DealFix] = []
    unresolved: list[UnresolvedInvoice] = []
    export: ExportedFile | None = None


def fix_note(day: date, deal: CrmDeal, invoice: BillingInvoiceDetail) -> str:
    """The note a fixed deal gets: who fixed it, from what, to what."""
    was = f"invoice {deal.invoice_id} {deal.invoice_status or ''}".strip()
    if deal.invoice_id is None:
        was = "no invoice"
    return (
        f"Fixed by the daily reconciliation of {day}: billing has invoice {invoice.number} "
        f"({invoice.id}) {invoice.status}; the deal said {was}."
    )


def attention_line(unresolved: list[UnresolvedInvoice]) -> str:
    named = [f"{u.invoice_number} ({u.code})" for u in unresolved[:NAMED_IN_ATTENTION]]
    more = len(unresolved) - len(named)
    line = f"{len(unresolved)} invoices not reconciled: {', '.join(named)}"
    return line + (f" and {more} more" if more else "")
