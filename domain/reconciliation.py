"""Daily reconciliation: which day a run covers, what it fixed in the CRM, what it exported.

The day's invoices are the billing invoices *issued* (finalized: ``finalized_at``) during that
calendar day in the configured time zone, ``[00:00, next day 00:00)`` local time, whatever their
status now (open, paid or void). Drafts are not issued yet and belong to no day; a draft voided
before it was sent never does. A scheduled run covers the day *before* the local date of its
scheduled time: the 02:00 run of March 5 reconciles March 4.
"""

from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator

from domain.records import BillingInvoiceDetail, CrmDeal
from domain.status import WorkflowStatus

# Metadata key InvoiceGeneration sets on every billing invoice it creates.
CRM_DEAL_KEY = "crm_deal_id"
# How many unresolved invoices the `attention` line names before it says "and N more".
NAMED_IN_ATTENTION = 5
# How many fixes and unresolved invoices the result and `status` list (lowest invoice numbers
# first), whatever the day's volume; every unresolved invoice is in the file beside the export.
LISTED = 100


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
    # Billing's list page (Stripe allows 1 to 100) and how many pages one run reads before it
    # continues as new: a run's history stays under 10,240 events whatever the day's volume.
    page_size: int = Field(default=100, ge=1, le=100)
    pages_per_run: int = Field(default=5, ge=1, le=10)
    # CRM calls in flight at once; the CRM queue's rate limit still holds across them.
    crm_in_flight: int = Field(default=10, ge=1, le=100)
    # A CRM outage holds the run (`Stage` = retrying) this long before its deals are listed as
    # unresolved; the next day's run starts on time meanwhile (the schedule allows overlaps).
    crm_outage_hold: timedelta = Field(default=timedelta(days=1), gt=timedelta(0))

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        time_zone(value)
        return value


class ReconciliationInput(BaseModel):
    """`day` for a manual run; a scheduled run leaves it out and covers the day before its
    scheduled time (`TemporalScheduledStartTime`). `carried`: set by a run that continues as
    new, for the next one."""

    day: date | None = None
    policy: ReconciliationPolicy = ReconciliationPolicy()
    carried: "ReconciliationCarry | None" = None


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


class ReconciliationCarry(BaseModel):
    """What a run of the paged reconciliation hands the next one when it continues as new: the
    cursor and the counters, never the day's invoices."""

    export_key: str  # names the day's part files: the id of the chain's first run
    cursor: str | None = None
    pages: int = 0
    invoices: int = 0
    in_sync: int = 0
    fixed_total: int = 0
    unresolved_total: int = 0
    fixed: list[DealFix] = []  # the first LISTED by invoice number
    unresolved: list[UnresolvedInvoice] = []


class ExportPartInput(BaseModel):
    """One page of the day for the export: its invoices and those of them left unresolved."""

    day: date
    export_key: str
    page: int
    invoices: list[BillingInvoiceDetail]
    unresolved: list[UnresolvedInvoice]


class FinishExportInput(BaseModel):
    """Merge the day's parts into the export and the unresolved file, in place at once."""

    day: date
    export_key: str


class ExportedFile(BaseModel):
    path: str
    rows: int
    sha256: str
    changed: bool
    # Every unresolved invoice of the day (CSV), beside the export; None from older runs.
    unresolved_path: str | None = None
    unresolved_rows: int = 0


class ReconciliationResult(BaseModel):
    """`fixed` and `unresolved` list at most LISTED items (the lowest invoice numbers); the
    totals count them all, and `export.unresolved_path` lists every unresolved invoice."""

    day: date
    time_zone: str
    invoices: int
    in_sync: int
    fixed: list[DealFix]
    unresolved: list[UnresolvedInvoice]
    export: ExportedFile
    fixed_total: int | None = None
    unresolved_total: int | None = None


class ReconciliationStatus(WorkflowStatus):
    """The `status` query: the common fields, plus what this run fixed and could not fix."""

    day: date | None = None
    time_zone: str = "UTC"
    fixed: list[DealFix] = []
    unresolved: list[UnresolvedInvoice] = []
    export: ExportedFile | None = None
    invoices: int = 0
    fixed_total: int = 0
    unresolved_total: int = 0


Listed = TypeVar("Listed", DealFix, UnresolvedInvoice)


def fix_note(day: date, deal: CrmDeal, invoice: BillingInvoiceDetail) -> str:
    """The note a fixed deal gets: who fixed it, from what, to what."""
    was = f"invoice {deal.invoice_id} {deal.invoice_status or ''}".strip()
    if deal.invoice_id is None:
        was = "no invoice"
    return (
        f"Fixed by the daily reconciliation of {day}: billing has invoice {invoice.number} "
        f"({invoice.id}) {invoice.status}; the deal said {was}."
    )


def attention_line(unresolved: list[UnresolvedInvoice], total: int | None = None) -> str:
    total = len(unresolved) if total is None else total
    named = [f"{u.invoice_number} ({u.code})" for u in unresolved[:NAMED_IN_ATTENTION]]
    more = total - len(named)
    line = f"{total} invoices not reconciled: {', '.join(named)}"
    return line + (f" and {more} more" if more else "")


def first_listed(items: list[Listed]) -> list[Listed]:
    """The LISTED items with the lowest invoice numbers, in that order."""
    return sorted(items, key=lambda i: (i.invoice_number, i.invoice_id))[:LISTED]


ReconciliationInput.model_rebuild()
