"""`backoffice audit <workflow-id>` as an operator runs it: every external call of a real run,
the failed attempt and its retry included, as a table and as JSON; clear errors otherwise."""

import asyncio
import json
import re
from datetime import datetime

import pytest

from domain.contract import vendor_onboarding_id
from tests.helpers import fault_for_run, new_application_id, start
from tests.test_cli import backoffice


@pytest.fixture
def erp_fails_once(admin):
    """The ERP answers the first vendor creation of the run with the application id it returns
    with a 503; the retry goes through."""
    key = new_application_id()
    rule = {"status": 503, "path": "/vendors$", "method": "POST", "count": 1}
    fault_for_run(admin, "erp", vendor_onboarding_id(key), rule)
    return key


@pytest.fixture
async def retried_run(client, settings, erp_fails_once):
    handle = await start(client, settings, application_id=erp_fails_once)
    await asyncio.wait_for(handle.result(), 120)
    return handle.id, (await handle.describe()).run_id


def _table(stdout: str) -> tuple[list[str], list[dict[str, str]], str]:
    """Header, rows (by column name) and the closing summary line of the printed table."""
    lines = stdout.rstrip("\n").splitlines()
    header = re.split(r"\s{2,}", lines[0].strip())
    rows = [
        dict(zip(header, re.split(r"\s{2,}", line.strip()), strict=True)) for line in lines[1:-1]
    ]
    return header, rows, lines[-1]


async def test_the_table_shows_the_failed_attempt_and_its_retry(retried_run, cli_env):
    workflow_id, _ = retried_run
    shown = await asyncio.to_thread(backoffice, "audit", workflow_id, env=cli_env)
    assert shown.returncode == 0, shown.stderr
    header, rows, summary = _table(shown.stdout)
    assert header == [
        "TIME (UTC)",
        "ACTIVITY",
        "SYSTEM",
        "METHOD",
        "PATH",
        "STATUS",
        "ATTEMPT",
        "LATENCY MS",
        "ERROR",
    ]
    creates = [r for r in rows if (r["METHOD"], r["PATH"]) == ("POST", "/vendors")]
    assert [(r["ATTEMPT"], r["STATUS"], r["ERROR"]) for r in creates] == [
        ("1", "503", "INJECTED_FAULT"),
        ("2", "201", "-"),
    ]
    assert {r["ACTIVITY"] for r in creates} == {"erp.create_vendor"}
    # The whole run, in time order: validation first, the supplier list last.
    assert rows[0]["ACTIVITY"] == "erp.validate_vendor"
    assert rows[-1]["ACTIVITY"] == "erp.add_approved_supplier"
    assert {r["SYSTEM"] for r in rows} == {"erp", "portal", "mail"}
    times = [datetime.fromisoformat(r["TIME (UTC)"]) for r in rows]
    assert times == sorted(times)
    assert all(float(r["LATENCY MS"]) >= 0 for r in rows)
    assert summary == f"{len(rows)} calls, 1 failed"


async def test_json_and_wide_say_the_same_with_ids_and_summaries(retried_run, cli_env):
    workflow_id, run_id = retried_run
    out = await asyncio.to_thread(backoffice, "audit", workflow_id, "--json", env=cli_env)
    assert out.returncode == 0, out.stderr
    calls = json.loads(out.stdout)
    assert all(c["workflow_id"] == workflow_id and c["run_id"] == run_id for c in calls)
    creates = [c for c in calls if (c["method"], c["path"]) == ("POST", "/vendors")]
    assert [(c["attempt"], c["status"], c["error_code"]) for c in creates] == [
        (1, 503, "INJECTED_FAULT"),
        (2, 201, None),
    ]
    assert creates[0]["activity_id"] == creates[1]["activity_id"]
    assert creates[1]["response_summary"].startswith('{"id": "V-')
    assert "iban" not in creates[1]["response_summary"]
    assert creates[1]["request_summary"].startswith("fields: ")
    moments = [datetime.fromisoformat(c["at"]) for c in calls]
    assert moments == sorted(moments) and all(m.tzinfo is not None for m in moments)

    wide = await asyncio.to_thread(backoffice, "audit", workflow_id, "--wide", env=cli_env)
    header, rows, _ = _table(wide.stdout)
    assert header[-3:] == ["RUN", "REQUEST", "RESPONSE"]
    assert len(rows) == len(calls) and {r["RUN"] for r in rows} == {run_id}
    assert [r["REQUEST"] for r in rows] == [c["request_summary"] or "-" for c in calls]


def test_an_id_without_audit_rows_exits_1_with_a_message(stack, cli_env):
    missing = "vendor-onboarding-APP-NEVER-STARTED"
    out = backoffice("audit", missing, env=cli_env)
    assert out.returncode == 1 and out.stdout == ""
    assert f"no external calls recorded for workflow {missing}" in out.stderr


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("", "is empty"),
        ("x" * 201, "is 201 characters long"),
        ("dana@acme.example", "may hold only letters, digits"),
        ("invoice INV-1", "may hold only letters, digits"),
    ],
)
def test_a_bad_id_exits_2_naming_the_argument(stack, cli_env, bad, why):
    out = backoffice("audit", bad, env=cli_env)
    assert out.returncode == 2 and out.stdout == ""
    assert "argument workflow_id:" in out.stderr and why in out.stderr
    if bad:
        assert bad not in out.stderr  # a mistyped id may be personal: never echoed
