"""Accounting export: a day's invoices as one CSV file that the accounting system imports.

The paged reconciliation writes the file page by page (`write_export_part`) and puts it in place
at the end (`finish_export`, see `activities.export_parts`), with every unresolved invoice of the
day in `invoices-<YYYY-MM-DD>.unresolved.csv` beside it.

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
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.export_parts import (
    Counted,
    merged_lines,
    parts_dir,
    remove_parts,
    write_if_changed,
    write_part,
)
from domain.reconciliation import (
    CRM_DEAL_KEY,
    ExportedFile,
    ExportPartInput,
    FinishExportInput,
    UnresolvedInvoice,
)
from domain.records import BillingInvoiceDetail, ExportInvoicesInput

Written = TypeVar("Written")

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


UNRESOLVED_COLUMNS = ("invoice_number", "invoice_id", "crm_deal_id", "code", "reason")
INVOICE_PART, UNRESOLVED_PART = ".invoices.jsonl", ".unresolved.jsonl"


def export_file_name(day_iso: str) -> str:
    return f"invoices-{day_iso}.csv"


def unresolved_file_name(day_iso: str) -> str:
    return f"invoices-{day_iso}.unresolved.csv"


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


def _unresolved_row(item: UnresolvedInvoice) -> list[str]:
    deal = item.crm_deal_id or ""
    texts = (item.invoice_number, item.invoice_id, deal, item.code, item.reason)
    return [_text(value) for value in texts]


def csv_line(cells: Sequence[str]) -> str:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue()


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
    return write_if_changed(path, [content])[1]


class AccountingExportActivities:
    def __init__(self, export_dir: Path) -> None:
        self._dir = export_dir

    @activity.defn(name="accounting.export_invoices")
    async def export_invoices(self, inp: ExportInvoicesInput) -> ExportedFile:
        content = render_csv(inp.invoices)
        path = self._dir / export_file_name(inp.day.isoformat())
        changed = await asyncio.to_thread(self._guarded, write_atomically, path, content)
        return ExportedFile(
            path=str(path),
            rows=len(inp.invoices),
            sha256=hashlib.sha256(content).hexdigest(),
            changed=changed,
        )

    @activity.defn(name="accounting.write_export_part")
    async def write_export_part(self, inp: ExportPartInput) -> None:
        """One page of the day, as two sorted parts (its invoices, its unresolved ones)."""
        folder = self._parts(inp.day.isoformat(), inp.export_key)
        invoices = [((i.number, i.id), csv_line(_row(i))) for i in inp.invoices]
        unresolved = [
            ((u.invoice_number, u.invoice_id), csv_line(_unresolved_row(u))) for u in inp.unresolved
        ]
        name = f"{inp.page:06d}"
        await asyncio.to_thread(self._guarded, write_part, folder, name + INVOICE_PART, invoices)
        await asyncio.to_thread(
            self._guarded, write_part, folder, name + UNRESOLVED_PART, unresolved
        )

    @activity.defn(name="accounting.finish_export")
    async def finish_export(self, inp: FinishExportInput) -> ExportedFile:
        """The parts merged into the export and the unresolved file, each moved into place."""
        return await asyncio.to_thread(self._guarded, self._finish, inp)

    def _finish(self, inp: FinishExportInput) -> ExportedFile:
        day = inp.day.isoformat()
        folder = self._parts(day, inp.export_key)
        path = self._dir / export_file_name(day)
        rows = Counted(csv_line(COLUMNS), merged_lines(folder, INVOICE_PART))
        sha256, changed = write_if_changed(path, rows)
        unresolved_path = self._dir / unresolved_file_name(day)
        unresolved = Counted(csv_line(UNRESOLVED_COLUMNS), merged_lines(folder, UNRESOLVED_PART))
        write_if_changed(unresolved_path, unresolved)
        remove_parts(folder)
        return ExportedFile(
            path=str(path),
            rows=rows.rows,
            sha256=sha256,
            changed=changed,
            unresolved_path=str(unresolved_path),
            unresolved_rows=unresolved.rows,
        )

    def _parts(self, day: str, export_key: str) -> Path:
        return parts_dir(self._dir, export_file_name(day), export_key)

    def _guarded(self, write: Callable[..., Written], *args: Any) -> Written:
        try:
            return write(*args)
        except (PermissionError, NotADirectoryError, FileExistsError) as exc:
            # No retry makes the folder writable: the operator must fix BACKOFFICE_EXPORT_DIR.
            raise ApplicationError(
                f"cannot write to the export dir {self._dir} ({type(exc).__name__}): "
                "check BACKOFFICE_EXPORT_DIR",
                type="EXPORT_DIR_NOT_WRITABLE",
                non_retryable=True,
            ) from None
