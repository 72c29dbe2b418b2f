"""Reconciliation: a CRM deal lagging behind billing is fixed, what cannot be fixed is listed,
and the day's CSV export is the same bytes however often the day runs.

The session stack is shared and other tests issue invoices today too: the checks look at this
test's own invoices and at the file's shape, never at totals of the day.
"""

import asyncio
import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from activities.accounting_export import COLUMNS, render_csv, write_atomically
from domain.contract import BUSINESS_KEY, STAGE, STATUS_QUERY, reconciliation_id
from domain.reconciliation import (
    ReconciliationResult,
    ReconciliationStatus,
    day_bounds,
    day_covered,
)
from domain.records import BillingInvoiceDetail
from starters.reconciliation import start_reconciliation
from tests.invoicing import Crm, pay
from tests.test_cli import backoffice

# --- the day rule, the bounds and the file, without a stack ----------------------------------


def test_a_scheduled_run_covers_the_local_day_before_its_scheduled_time():
    # 02:00 in Berlin on March 5 (01:00 UTC) reconciles March 4.
    assert day_covered(datetime(2026, 3, 5, 1, 0, tzinfo=UTC), "Europe/Berlin") == date(2026, 3, 4)
    # 00:30 in Berlin on March 5 is still March 4 in UTC: the local date decides.
    late = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)
    assert day_covered(late, "Europe/Berlin") == date(2026, 3, 4)
    assert day_covered(late, "UTC") == date(2026, 3, 3)


def test_a_day_is_its_local_midnights_23_or_25_hours_on_dst_days():
    start, end = day_bounds(date(2026, 3, 4), "Europe/Berlin")
    assert (start, end) == (
        datetime(2026, 3, 3, 23, 0, tzinfo=UTC),
        datetime(2026, 3, 4, 23, 0, tzinfo=UTC),
    )
    spring = day_bounds(date(2026, 3, 29), "Europe/Berlin")
    autumn = day_bounds(date(2026, 10, 25), "Europe/Berlin")
    assert spring[1] - spring[0] == timedelta(hours=23)
    assert autumn[1] - autumn[0] == timedelta(hours=25)
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        day_bounds(date(2026, 3, 4), "Mars/Olympus")


def _detail(number: str, invoice_id: str, **overrides: Any) -> BillingInvoiceDetail:
    fields: dict[str, Any] = {
        "id": invoice_id,
        "number": number,
        "status": "open",
        "customer_id": "CUS-000001",
        "currency": "EUR",
        "subtotal_cents": 1000,
        "tax_cents": 190,
        "total_cents": 1190,
        "amount_paid_cents": 0,
        "amount_due_cents": 1190,
        "due_date": "2026-04-03",
        "metadata": {"crm_deal_id": "DEAL-000001", "note": 'has "quotes", and commas'},
        "created_at": "2026-03-04T10:00:00.123456Z",
        "finalized_at": "2026-03-04T10:00:01Z",
    }
    return BillingInvoiceDetail.model_validate(fields | overrides)


def test_the_csv_is_sorted_and_the_same_bytes_for_the_same_invoices(tmp_path: Path):
    invoices = [_detail("B-2", "INV-000002"), _detail("A-1", "INV-000009", status="paid")]
    content = render_csv(invoices)
    assert content == render_csv(list(reversed(invoices)))
    rows = list(csv.reader(io.StringIO(content.decode())))
    assert rows[0] == list(COLUMNS)
    assert [r[1] for r in rows[1:]] == ["A-1", "B-2"]
    assert rows[1][13] == "2026-03-04T10:00:01Z" and rows[1][12] == "2026-03-04T10:00:00.123456Z"
    assert content.endswith(b"\r\n")

    target = tmp_path / "exports" / "invoices-2026-03-04.csv"
    assert write_atomically(target, content) is True
    assert write_atomically(target, content) is False  # same bytes: the file is left alone
    assert target.read_bytes() == content
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temp file left


def test_text_from_another_system_cannot_become_a_spreadsheet_formula():
    hostile = _detail(
        '=HYPERLINK("http://x.example")',
        "INV-000003",
        metadata={"crm_deal_id": "@SUM(A1:A9)"},
        customer_id="-2+3",
    )
    (row,) = list(csv.reader(io.StringIO(render_csv([hostile]).decode())))[1:]
    assert row[1] == '\'=HYPERLINK("http://x.example")'
    assert row[3] == "'-2+3" and row[4] == "'@SUM(A1:A9)"
    assert row[6] == "1000"  # amounts are numbers, left as they are


# --- the real stack ---------------------------------------------------------------------------


def _vault_secret(stack, system: str) -> dict[str, str]:
    return dict(
        stack.vault_root().secrets.kv.v2.read_secret_version(
            path=f"backoffice/systems/{system}", mount_point="secret", raise_on_deleted_version=True
        )["data"]["data"]
    )


class Billing:
    """The sandbox billing system as a test sets it up: through its real API and API key."""

    def __init__(self, stack) -> None:
        key = _vault_secret(stack, "billing")["api_key"]
        self.http = httpx.Client(
            base_url=f"{stack.sandbox_url}/billing",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
            trust_env=False,
        )

    def issue(self, metadata: dict[str, str]) -> dict[str, Any]:
        """A customer and an invoice on it, finalized (issued) now."""
        invoice = self.draft(metadata)
        issued = self._post(f"/v1/invoices/{invoice['id']}/finalize", {})
        return _flat(issued)

    def draft(self, metadata: dict[str, str]) -> dict[str, Any]:
        """A customer and a draft invoice on it, with one taxed line (Stripe's requests)."""
        key = uuid.uuid4().hex[:10].upper()
        customer = self._post(
            "/v1/customers",
            {
                "name": f"Reconciled {key} Ltd",
                "email": f"ap-{key.lower()}@reconciled.example",
                "metadata[crm_account_id]": f"ACC-REC-{key}",
            },
        )
        rate = self._post(
            "/v1/tax_rates", {"display_name": "Tax", "percentage": "19.00", "inclusive": "false"}
        )
        invoice = self._post(
            "/v1/invoices",
            {
                "customer": customer["id"],
                "currency": "eur",
                "collection_method": "send_invoice",
                "days_until_due": "30",
                "metadata[invoice_number]": f"REC-{key}",
                **{f"metadata[{k}]": v for k, v in metadata.items()},
            },
        )
        line = {"customer": customer["id"], "invoice": invoice["id"], "quantity": "2"}
        self._post(
            "/v1/invoiceitems", {**line, "unit_amount_decimal": "5000", "tax_rates[0]": rate["id"]}
        )
        return _flat(self.http.get(f"/v1/invoices/{invoice['id']}").raise_for_status().json())

    def tax_rate(self, percentage: str, metadata: dict[str, str]) -> dict[str, Any]:
        """An exclusive tax rate, as someone sets one up in billing by hand."""
        form = {"display_name": "Tax", "percentage": percentage, "inclusive": "false"}
        marks = {f"metadata[{k}]": v for k, v in metadata.items()}
        return self._post("/v1/tax_rates", form | marks)

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        return _flat(self.http.get(f"/v1/invoices/{invoice_id}").raise_for_status().json())

    def _post(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        return dict(self.http.post(path, data=form, headers=headers).raise_for_status().json())


def _flat(invoice: dict[str, Any]) -> dict[str, Any]:
    """A Stripe invoice with the fields these tests read under the project's names."""
    finalized = invoice["status_transitions"]["finalized_at"]
    return {
        **invoice,
        "number": invoice["metadata"]["invoice_number"],
        "total_cents": invoice["total"],
        "finalized_at": None
        if finalized is None
        else datetime.fromtimestamp(finalized, UTC).isoformat(),
    }


def _crm_patch(stack, deal_id: str, changes: dict[str, Any]) -> None:
    """What a sales rep (or a lagging integration) leaves on a deal, through the CRM's API."""
    with httpx.Client(base_url=f"{stack.sandbox_url}/crm", timeout=10, trust_env=False) as crm:
        token = crm.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", **_vault_secret(stack, "crm")},
        ).raise_for_status()
        crm.patch(
            f"/deals/{deal_id}",
            json=changes,
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        ).raise_for_status()


def _issued_day(invoice: dict[str, Any]) -> date:
    return datetime.fromisoformat(invoice["finalized_at"]).astimezone(UTC).date()


async def test_a_day_is_reconciled_listed_and_exported_the_same_twice(
    stack, client, settings, admin, cli_env
):
    assert settings.reconciliation_time_zone == "UTC"  # the test stack's days are UTC days
    crm, billing = Crm(stack), Billing(stack)
    _, deal_id = crm.account_and_deal()
    paid = billing.issue({"crm_deal_id": deal_id})
    pay(admin, paid["number"], paid["total_cents"], payment_id=f"{paid['number']}-pay")
    # The CRM lags behind: it still shows the invoice as open.
    _crm_patch(stack, deal_id, {"invoice_id": paid["id"], "invoice_status": "open"})
    missing_deal = f"DEAL-NOPE-{uuid.uuid4().hex[:6]}"
    orphan = billing.issue({"crm_deal_id": missing_deal})
    unlinked = billing.issue({})
    draft = billing.draft({"crm_deal_id": deal_id})
    day = _issued_day(paid)
    assert {_issued_day(orphan), _issued_day(unlinked)} == {day}, "seeded across midnight"

    # Stripe's list filters on `created`: the day's window holds them all, the draft unissued.
    start, end = day_bounds(day, "UTC")
    window = {"created[gte]": int(start.timestamp()), "created[lt]": int(end.timestamp())}
    listed = billing.http.get("/v1/invoices", params={**window, "limit": 100}).json()["data"]
    issued = {i["id"] for i in listed if i["status_transitions"]["finalized_at"]}
    assert {paid["id"], orphan["id"], unlinked["id"]} <= issued and draft["id"] not in issued

    outcome = await start_reconciliation(client, settings, day)
    assert outcome.workflow_id == reconciliation_id(day) == f"reconciliation-{day}"
    handle = client.get_workflow_handle(outcome.workflow_id, result_type=ReconciliationResult)
    result = await asyncio.wait_for(handle.result(), 120)

    # Fixed from billing, with a note saying so.
    assert result.day == day
    fixes = [f for f in result.fixed if f.deal_id == deal_id]
    assert len(fixes) == 1 and fixes[0].invoice_status == "paid"
    assert fixes[0].was_invoice_status == "open"
    deal = crm.deal(deal_id)
    assert (deal["invoice_id"], deal["invoice_status"]) == (paid["id"], "paid")
    assert any("reconciliation" in n["text"] and paid["number"] in n["text"] for n in deal["notes"])

    # Listed, in the result and in `status`, for a person to look at.
    mine = {
        u.invoice_id: u for u in result.unresolved if u.invoice_id in (orphan["id"], unlinked["id"])
    }
    assert (
        mine[orphan["id"]].code == "DEAL_NOT_FOUND"
        and mine[orphan["id"]].crm_deal_id == missing_deal
    )
    assert mine[unlinked["id"]].code == "NO_DEAL_ID"
    status = await handle.query(STATUS_QUERY, result_type=ReconciliationStatus)
    assert status.stage == "reconciled" and status.business_key == day.isoformat()
    assert {orphan["id"], unlinked["id"]} <= {u.invoice_id for u in status.unresolved}
    assert status.attention and "not reconciled" in status.attention
    described = await handle.describe()
    assert described.search_attributes.get(BUSINESS_KEY.name) == [day.isoformat()]
    assert described.search_attributes.get(STAGE.name) == ["attention_needed"]

    # The export: this day's file, sorted, with the issued invoices and not the draft.
    path = settings.resolved_export_dir / f"invoices-{day}.csv"
    assert result.export.path == str(path)
    first = path.read_bytes()
    rows = list(csv.DictReader(io.StringIO(first.decode())))
    by_id = {r["invoice_id"]: r for r in rows}
    assert by_id[paid["id"]]["status"] == "paid" and by_id[orphan["id"]]["status"] == "open"
    assert by_id[paid["id"]]["crm_deal_id"] == deal_id and unlinked["id"] in by_id
    assert draft["id"] not in by_id
    assert [(r["number"], r["invoice_id"]) for r in rows] == sorted(
        (r["number"], r["invoice_id"]) for r in rows
    )
    assert len(rows) == result.invoices

    # The same day again, from the command line: nothing left to fix, the same bytes.
    again = backoffice("reconcile", "--day", day.isoformat(), "--wait", env=cli_env)
    assert again.returncode == 0, again.stderr
    assert f"reconciliation-{day} started" in again.stdout
    assert f"deal {deal_id}" not in again.stdout
    assert f"unresolved: invoice {orphan['number']}: DEAL_NOT_FOUND" in again.stdout
    assert f"export: {path} (" in again.stdout and "unchanged" in again.stdout
    assert path.read_bytes() == first
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(".")) == []
    shown = backoffice("status", reconciliation_id(day), env=cli_env)
    assert "stage reconciled" in shown.stdout and "attention:" in shown.stdout


async def test_bad_days_are_refused_and_nothing_starts(client, cli_env, settings):
    bad = backoffice("reconcile", "--day", "2026-02-30", env=cli_env)
    assert bad.returncode == 2
    assert "--day '2026-02-30' is not a date" in bad.stderr
    future = (datetime.now(UTC) + timedelta(days=3)).date()
    later = backoffice("reconcile", "--day", future.isoformat(), env=cli_env)
    assert later.returncode == 2 and "is in the future" in later.stderr
    listed = [w async for w in client.list_workflows(f'WorkflowId = "reconciliation-{future}"')]
    assert listed == []
