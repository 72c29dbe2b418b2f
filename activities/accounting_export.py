"""Accounting export: a day's invoices as one CSV file that the accounting system imports.

A file-based integration: `<export dir>/invoices-<YYYY-MM-DD>.csv`, one file per day, UTF-8,
RFC 4180 (comma separated, CRLF line ends), a header row, then one row per invoice sorted by
invoice number and id. Nothing in it depends on the run (no export time), so the same day with
the same billing data gives the same bytes. The file is written to a temporary file in the same
folder and moved into place with `os.replace`: an importer sees the old file or the new one,
never half of one. With several workers on several hosts the export dir must be shared storage.
"""

import asyncio
import csv
import hashlib
import io
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.reconciliation import CRM_DEAL_KEY, ExportedFile
from domain.records import BillingInvoiceDetail, ExportInvoicesInput

# Its own queue: the export runs where the export dir is, apart from every HTTP system.
ACCOUNTING_TASK_QUEUE = "backoffice-accounting"

COLUMNS = (
    "invoice_id",
    "number",
    "status",
    "customer_id",
    "crm_deal_id",
    "currency",
    "subtotal_cents",
    "tax_cents",
    "total_cents",
    "amount_paid_cents",
    "amount_due_cents",
    "due_date",
    "created_at",
    "issued_at",
    "paid_at",
    "voided_at",
)


def export_file_name(day_iso: str) -> str:
    return f"invoices-{day_iso}.csv"


def _instant(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# A cell starting with one of these is a formula to a spreadsheet that opens the file.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    """Text from another system, defused: a leading quote keeps a formula from running."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _row(invoice: BillingInvoiceDetail) -> list[str]:
    return [
        _text(invoice.id),
        _text(invoice.number),
        _text(invoice.status),
        _text(invoice.customer_id),
        _text(invoice.metadata.get(CRM_DEAL_KEY, "")),
        _text(invoice.currency),
        str(invoice.subtotal_cents),
        str(invoice.tax_cents),
        str(invoice.total_cents),
        str(invoice.amount_paid_cents),
        str(invoice.amount_due_cents),
        invoice.due_date.isoformat() if invoice.due_date else "",
        _instant(invoice.created_at),
        _instant(invoice.finalized_at),
        _instant(invoice.paid_at),
        _instant(invoice.voided_at),
    ]


def render_csv(invoices: Sequence[BillingInvoiceDetail]) -> bytes:
    """The file's bytes: header, then the invoices by number and id (amounts in minor units)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for invoice in sorted(invoices, key=lambda i: (i.number, i.id)):
        writer.writerow(_row(invoice))
    return out.getvalue().encode("utf-8")


def write_atomically(path: Path, content: bytes) -> bool:
    """Put `content` at `path` all at once; False when the file already held exactly that."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.read_bytes() == content:
            return False
    except FileNotFoundError:
        pass
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o640)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a crash
    finally:
        os.close(folder)
    return True


class AccountingExportActivities:
    def __init__(self, export_dir: Path) -> None:
        self._dir = export_dir

    @activity.defn(name="accounting.export_invoices")
    async def export_invoices(self, inp: ExportInvoicesInput) -> ExportedFile:
        content = render_csv(inp.invoices)
        path = self._dir / export_file_name(inp.day.isoformat())
        try:
            changed = await asyncio.to_thread(write_atomically, path, content)
        except (PermissionError, NotADirectoryError, FileExistsError) as exc:
            # No retry makes the folder writable: the operator must fix BACKOFFICE_EXPORT_DIR.
            raise ApplicationError(
                f"cannot write {path.name} to the export dir {self._dir} "
                f"({type(exc).__name__}): check BACKOFFICE_EXPORT_DIR",
                type="EXPORT_DIR_NOT_WRITABLE",
                non_retryable=True,
            ) from None
        return ExportedFile(
            path=str(path),
            rows=len(inp.invoices),
            sha256=hashlib.sha256(content).hexdigest(),
            changed=changed,
        )
