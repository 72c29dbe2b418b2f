"""The streamed export without a stack: pages written as parts in any order, a retried page, more
parts than one merge opens at once, and the same bytes as the whole-day file."""

import asyncio
import random
from datetime import date
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities import export_parts
from activities.accounting_export import AccountingExportActivities, render_csv
from domain.reconciliation import ExportPartInput, FinishExportInput, UnresolvedInvoice
from domain.records import BillingInvoiceDetail
from tests.test_reconciliation import _detail

DAY = date(2026, 3, 4)


def _pages(count: int, per_page: int) -> list[list[BillingInvoiceDetail]]:
    numbers = [f"N-{n:05d}" for n in range(count * per_page)]
    random.Random(7).shuffle(numbers)  # billing lists by `created`, not by number
    invoices = [_detail(number, f"in_{i:06d}") for i, number in enumerate(numbers)]
    return [invoices[p : p + per_page] for p in range(0, len(invoices), per_page)]


def _unresolved(invoice) -> UnresolvedInvoice:
    return UnresolvedInvoice(
        invoice_id=invoice.id,
        invoice_number=invoice.number,
        crm_deal_id=None,
        code="NO_DEAL_ID",
        reason="the invoice names no CRM deal",
    )


def test_parts_merge_into_the_whole_day_file_with_a_retried_page(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(export_parts, "FAN_IN", 4)  # 11 parts: merged in two levels
    export = AccountingExportActivities(tmp_path)
    pages = _pages(11, 7)

    async def write_all() -> None:
        for index, page in enumerate(pages):
            unresolved = [_unresolved(i) for i in page[:1]]
            part = ExportPartInput(
                day=DAY, export_key="run-1", page=index, invoices=page, unresolved=unresolved
            )
            await export.write_export_part(part)
            if index == 3:  # a retried page replaces its part, never adds rows twice
                await export.write_export_part(part)

    asyncio.run(write_all())
    done = asyncio.run(export.finish_export(FinishExportInput(day=DAY, export_key="run-1")))

    everything = [i for page in pages for i in page]
    content = (tmp_path / "invoices-2026-03-04.csv").read_bytes()
    assert content == render_csv(everything)
    assert (done.rows, done.changed, done.unresolved_rows) == (77, True, 11)
    lines = Path(done.unresolved_path or "").read_text().splitlines()
    assert lines[0] == "invoice_number,invoice_id,crm_deal_id,code,reason"
    assert lines[1:] == sorted(lines[1:]) and len(lines) == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "invoices-2026-03-04.csv",
        "invoices-2026-03-04.unresolved.csv",
    ]  # no parts, no temporary files left


def test_an_export_dir_that_cannot_be_written_is_named(tmp_path: Path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder should be")
    export = AccountingExportActivities(blocked)
    part = ExportPartInput(day=DAY, export_key="k", page=0, invoices=[], unresolved=[])
    with pytest.raises(ApplicationError) as raised:
        asyncio.run(export.write_export_part(part))
    assert raised.value.type == "EXPORT_DIR_NOT_WRITABLE"
    assert "BACKOFFICE_EXPORT_DIR" in str(raised.value)
