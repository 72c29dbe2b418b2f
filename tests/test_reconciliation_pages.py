"""Reconciliation at volume, on the real stack, kept small: a seeded day spread over several
billing pages and runs (page size 3, two pages a run), with lagging deals fixed, unresolved
invoices listed in full beside the export, a CRM outage that holds the run (`Stage` = retrying)
without failing it, and the export's bytes the same on a second run. Then the bad input that is
refused before anything starts.

Each test seeds a day of its own, long past, so the shared stack's other invoices stay out.
"""

import csv
import io
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from domain.contract import STAGE, STATUS_QUERY, reconciliation_id
from domain.reconciliation import ReconciliationResult, ReconciliationStatus
from starters.reconciliation import start_reconciliation
from tests.helpers import result_of, wait_for
from tests.invoicing import Crm
from tests.test_cli import backoffice
from tests.test_reconciliation import _crm_patch

SEED = "/_admin/billing/invoices/seed"
SMALL = {
    "reconciliation_page_size": 3,
    "reconciliation_pages_per_run": 2,
    "reconciliation_crm_in_flight": 2,
}


def _own_day() -> date:
    return date(2005, 1, 1) + timedelta(days=random.randrange(3650))


def _seed(admin, day: date, count: int, prefix: str, deal_ids: list[str]) -> list[dict[str, str]]:
    """The seeded invoices, oldest first: id and number."""
    answer = admin.post(
        SEED, json={"day": day.isoformat(), "count": count, "prefix": prefix, "deal_ids": deal_ids}
    )
    answer.raise_for_status()
    first = int(answer.json()["first_id"].removeprefix("in_"))
    return [{"id": f"in_{first + i:06d}", "number": f"{prefix}-{i + 1:06d}"} for i in range(count)]


def _rows(path: str | None) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(Path(path or "").read_text(encoding="utf-8"))))


async def _runs(client, workflow_id: str) -> list[Any]:
    return [w async for w in client.list_workflows(f'WorkflowId = "{workflow_id}"')]


async def test_a_day_over_pages_and_runs_with_fixes_unresolved_and_a_crm_outage(
    stack, client, settings, admin, crm: Crm
):
    day, tag = _own_day(), uuid.uuid4().hex[:6].upper()
    deals = [crm.account_and_deal()[1] for _ in range(3)]
    missing = f"DEAL-NOPE-{tag}"
    # 12 invoices cycling over three deals and a missing one: each deal has invoices on
    # several pages; then two that name no deal, and one (the day's first) of a fourth deal.
    cycled = _seed(admin, day, 12, f"PG{tag}", [*deals, missing])
    unlinked = _seed(admin, day, 2, f"PN{tag}", [])
    _, late_deal = crm.account_and_deal()
    late = _seed(admin, day, 1, f"PL{tag}", [late_deal])
    newest = {deal: cycled[8 + k] for k, deal in enumerate(deals)}  # indices 8, 9, 10
    # One deal is in sync already; one names an older invoice of the day (lags behind).
    _crm_patch(stack, deals[0], {"invoice_id": newest[deals[0]]["id"], "invoice_status": "open"})
    _crm_patch(stack, deals[1], {"invoice_id": cycled[1]["id"], "invoice_status": "open"})
    # The CRM is down for the deal listed last (the day's oldest invoice): the run holds there.
    admin.put(
        "/_admin/faults/crm",
        json={"status": 503, "path": f"/deals/{late_deal}$", "method": "GET"},
    ).raise_for_status()
    small = settings.model_copy(update=SMALL)

    outcome = await start_reconciliation(client, small, day)
    handle = client.get_workflow_handle(outcome.workflow_id, result_type=ReconciliationResult)

    async def held() -> bool:
        described = await handle.describe()
        return described.search_attributes.get(STAGE.name) == ["retrying"]

    await wait_for(held, timeout=180, what="Stage = retrying while the CRM is down")
    status = await handle.query(STATUS_QUERY, result_type=ReconciliationStatus)
    assert status.retrying and "crm.get_deal" in status.retrying
    assert status.invoices >= 12  # pages read before the outage are counted, not lost
    admin.delete("/_admin/faults/crm").raise_for_status()
    result = await result_of(handle, timeout=300)

    # Every deal follows its newest invoice of the day, across pages and runs.
    for deal in deals:
        shown = crm.deal(deal)
        assert (shown["invoice_id"], shown["invoice_status"]) == (newest[deal]["id"], "open")
    assert crm.deal(late_deal)["invoice_id"] == late[0]["id"]  # fixed once the CRM came back
    assert result.invoices == 15 and len(await _runs(client, outcome.workflow_id)) >= 3
    fixed = {f.deal_id for f in result.fixed}
    assert fixed == {deals[1], deals[2], late_deal} and result.fixed_total == 3
    assert not [f for f in result.fixed if f.deal_id == deals[0]]
    # Unresolved: the missing deal's newest invoice on each page where it shows, and the two
    # without a deal; all of them in the file beside the export, sorted by number.
    listed = _rows(result.export.unresolved_path)
    assert result.unresolved_total == len(listed) == len(result.unresolved) >= 3
    codes = {row["invoice_number"]: row["code"] for row in listed}
    assert {codes[u["number"]] for u in unlinked} == {"NO_DEAL_ID"}
    assert codes[cycled[11]["number"]] == "DEAL_NOT_FOUND"
    assert [r["invoice_number"] for r in listed] == sorted(r["invoice_number"] for r in listed)
    assert result.in_sync == 15 - 3 - result.unresolved_total
    described = await handle.describe()
    assert described.search_attributes.get(STAGE.name) == ["attention_needed"]

    # The export: every invoice once, by number; the same bytes when the day runs again.
    export = Path(result.export.path)
    first = export.read_bytes()
    first_unresolved = Path(result.export.unresolved_path or "").read_bytes()
    rows = _rows(result.export.path)
    everything = cycled + unlinked + late
    assert [r["invoice_id"] for r in rows] == [
        i["id"] for i in sorted(everything, key=lambda i: (i["number"], i["id"]))
    ]
    again = await result_of(
        client.get_workflow_handle(
            (await start_reconciliation(client, small, day)).workflow_id,
            result_type=ReconciliationResult,
        ),
        timeout=300,
    )
    assert again.fixed_total == 0 and again.in_sync == result.in_sync + result.fixed_total
    assert export.read_bytes() == first and not again.export.changed
    assert Path(again.export.unresolved_path or "").read_bytes() == first_unresolved
    assert [p.name for p in export.parent.iterdir() if p.name.startswith(f".invoices-{day}")] == []


async def test_bad_input_is_refused_before_anything_starts(client, cli_env, settings, tmp_path):
    def refused(*args: str, env: dict[str, str] = cli_env) -> str:
        answer = backoffice(*args, env=env)
        assert answer.returncode == 2, (answer.stdout, answer.stderr)
        return answer.stderr

    before_billing = settings.billing_since - timedelta(days=1)
    stderr = refused("reconcile", "--day", before_billing.isoformat())
    assert f"--day {before_billing} is before billing went live" in stderr
    assert "BACKOFFICE_BILLING_SINCE" in stderr
    future = (datetime.now(UTC) + timedelta(days=2)).date()
    assert "is in the future" in refused("reconcile", "--day", future.isoformat())
    bad_zone = {**cli_env, "BACKOFFICE_RECONCILIATION_TIME_ZONE": "Mars/Olympus"}
    stderr = refused("reconcile", "--day", "2020-01-02", env=bad_zone)
    assert "BACKOFFICE_RECONCILIATION_TIME_ZONE" in stderr and "Mars/Olympus" in stderr
    stderr = refused("schedules", "backfill", "--start", "2020-01-01", "--end", "2021-03-01")
    assert "a backfill covers at most 366 days" in stderr
    stderr = refused("schedules", "backfill", "--start", "1999-12-01", "--end", "1999-12-03")
    assert "is before billing went live" in stderr
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the export dir should be")
    bad_dir = {**cli_env, "BACKOFFICE_EXPORT_DIR": str(blocked / "exports")}
    stderr = refused("reconcile", "--day", "2020-01-03", env=bad_dir)
    assert f"the export dir {blocked / 'exports'} cannot be made" in stderr
    assert "BACKOFFICE_EXPORT_DIR" in stderr
    for day in ("2020-01-02", "2020-01-03", before_billing.isoformat(), future.isoformat()):
        assert await _runs(client, reconciliation_id(date.fromisoformat(day))) == []
