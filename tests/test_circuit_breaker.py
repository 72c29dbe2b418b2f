"""Issue 22 items 1 and 2 on the real stack: one circuit breaker per system in the app database,
shared by the worker and any other process. An outage opens it; while it is open the worker's
activity sends nothing (an audit row `CIRCUIT_OPEN`, counted against the sandbox's own count of
requests), one probe per cool-down; the probe after recovery closes it and the run completes.
`backoffice systems`, `GET /v1/systems` and the API's gauge show it; an operator opens and closes
one by hand."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import RootModel
from temporalio.exceptions import ApplicationError

from domain.errors import ErrorCode
from domain.metrics import CIRCUIT_STATE
from domain.systems import System
from tests.helpers import Ledger, audit_rows, result_of, start, system_client, wait_for
from tests.observability.prometheus import Scrape
from tests.test_cli import backoffice
from tests.test_lead_to_cash import _start as _start_lead

pytestmark = pytest.mark.timeout(300)

Anything = RootModel[object]


def _systems(cli_env: dict[str, str]) -> dict[str, dict[str, Any]]:
    shown = backoffice("systems", "--json", env=cli_env)
    assert shown.returncode == 0, shown.stderr
    return {s["system"]: s for s in json.loads(shown.stdout)}


def _matched(admin: httpx.Client, system: str) -> int:
    """How many requests reached `system` in the sandbox (its fault rule's own count)."""
    return sum(rule["matched"] for rule in admin.get("/_admin/faults").json()["faults"][system])


async def _fail_until_open(stack, settings, system: System, path: str) -> None:
    """Calls from this process (another "worker") until the breaker opens: the threshold."""
    down = system_client(stack, settings, system)
    for _ in range(settings.circuit_policy(system).failures):
        with pytest.raises(ApplicationError):
            await down.call("GET", path, Anything)


async def test_an_outage_opens_the_breaker_for_every_worker_and_a_probe_closes_it(
    stack, client, settings, admin, cli_env
):
    policy = settings.circuit_policy(System.PORTAL)
    admin.put("/_admin/faults/portal", json={"down": True}).raise_for_status()
    handle = await start(client, settings)
    await _fail_until_open(stack, settings, System.PORTAL, "/accounts/ACC-NONE")
    assert _systems(cli_env)["portal"]["state"] == "open"

    # Shown by the API (scope `read`) and its gauge (2: open).
    token = stack.credentials()["api_clients"]["svc-reader"]
    with httpx.Client(base_url=stack.api_url, timeout=30, trust_env=False) as api:
        assert api.get("/v1/systems").status_code == 401
        listed = api.get("/v1/systems", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    portal = next(s for s in listed.json() if s["system"] == "portal")
    assert portal["state"] in ("open", "half_open") and portal["opened_by_hand"] is None
    api_metrics = stack.addresses.api_metrics
    await wait_for(
        lambda: Scrape(api_metrics).value(CIRCUIT_STATE, system="portal") >= 1,
        what="the circuit gauge of the portal",
    )

    # While open: the run's attempts are refused here, one probe per cool-down reaches the
    # system. Counted by the sandbox, over three cool-downs.
    await wait_for(
        lambda: any(
            r.error_code == ErrorCode.CIRCUIT_OPEN for r in audit_rows(settings, handle.id)
        ),
        what="an attempt of the run refused by the open breaker",
    )
    before = _matched(admin, "portal")
    await asyncio.sleep(3 * policy.cool_down.total_seconds())
    probes = _matched(admin, "portal") - before
    assert probes <= 3 + 1
    refused = [r for r in audit_rows(settings, handle.id) if r.error_code == "CIRCUIT_OPEN"]
    assert refused and all(r.status is None for r in refused)

    # The system is back: the next probe closes the breaker and the run completes.
    admin.delete("/_admin/faults/portal").raise_for_status()
    await result_of(handle)
    await wait_for(
        lambda: _systems(cli_env)["portal"]["state"] == "closed", what="the breaker closed"
    )
    key = handle.id.removeprefix("vendor-onboarding-")
    assert [a["status"] for a in Ledger(admin).of(key, "account")] == ["active"]


async def test_refusals_do_not_count_against_a_system(stack, settings, admin, cli_env):
    """A 4xx means the system is well and the request was not: no number of them opens it."""
    portal = system_client(stack, settings, System.PORTAL)
    for _ in range(settings.circuit_policy(System.PORTAL).failures + 2):
        with pytest.raises(ApplicationError) as refused:
            await portal.call("GET", "/accounts/ACC-NONE", Anything)
        assert refused.value.non_retryable
    shown = _systems(cli_env)["portal"]
    assert (shown["state"], shown["failures"]) == ("closed", 0)


async def test_an_operator_opens_and_closes_a_breaker_by_hand(stack, settings, admin, cli_env):
    # A rule that only counts: every request to the ERP is served, and counted.
    admin.put("/_admin/faults/erp", json={"latency_ms": 1}).raise_for_status()
    erp = system_client(stack, settings, System.ERP)
    opened = backoffice(
        "systems", "open", "erp", "--reason", "ERP upgrade until 18:00", env=cli_env
    )
    assert opened.returncode == 0, opened.stderr
    shown = _systems(cli_env)["erp"]
    assert shown["state"] == "open" and shown["probe_at"] is None
    assert shown["opened_by_hand"].startswith("ERP upgrade until 18:00 (by ")
    table = backoffice("systems", env=cli_env).stdout
    assert "erp" in table and "ERP upgrade until 18:00" in table

    with pytest.raises(ApplicationError) as refused:
        await erp.call("GET", "/vendors", Anything)
    assert refused.value.type == ErrorCode.CIRCUIT_OPEN and not refused.value.non_retryable
    assert _matched(admin, "erp") == 0

    closed = backoffice("systems", "close", "erp", env=cli_env)
    assert closed.returncode == 0, closed.stderr
    await erp.call("GET", "/vendors", Anything)
    assert _matched(admin, "erp") == 1
    assert _systems(cli_env)["erp"]["state"] == "closed"


def test_a_manual_command_for_an_unknown_system_names_the_known_ones(cli_env):
    wrong = backoffice("systems", "open", "sap", "--reason", "x", env=cli_env)
    assert wrong.returncode == 2
    assert "sap" in wrong.stderr and "erp" in wrong.stderr and "portal" in wrong.stderr
    blank = backoffice("systems", "open", "erp", "--reason", " ", env=cli_env)
    assert blank.returncode == 2 and "--reason" in blank.stderr
    assert _systems(cli_env)["erp"]["state"] == "closed"


async def test_a_step_before_the_point_of_no_return_waits_out_an_outage_of_days(client, settings):
    """Each step of a vendor onboarding (before its point of no return) gives up after
    `step_give_up_after` (3 days), not an hour: an ERP outage of hours is waited out, not
    compensated. Read from the run's history, as the Web UI shows it."""
    handle = await start(client, settings)
    await result_of(handle)
    scheduled = [
        event.activity_task_scheduled_event_attributes
        async for event in handle.fetch_history_events()
        if event.HasField("activity_task_scheduled_event_attributes")
    ]
    steps = {a.activity_type.name: a.schedule_to_close_timeout.ToTimedelta() for a in scheduled}
    assert {"erp.create_vendor", "portal.create_account"} <= set(steps)
    assert set(steps.values()) == {settings.step_give_up_after} == {timedelta(days=3)}


async def test_after_an_outage_the_waiting_runs_resume_at_the_systems_rate_limit(
    stack, settings, admin
):
    """Lead-to-cash runs wait for the enrichment service while it is down; when its breaker
    closes they call it at its rate limit (the task queue's, across workers), not all at once."""
    rate = settings.rate_limits[System.ENRICHMENT]
    # The service's own limit lifted: only the worker's may pace the calls (with the service's
    # in place, its 429s would spread the successes whatever the worker sent).
    own = admin.get("/_admin/enrichment/rate-limit").raise_for_status().json()
    lifted = {"per_second": 100_000, "burst": 100_000}
    admin.put("/_admin/enrichment/rate-limit", json=lifted).raise_for_status()
    try:
        await _backlog_returns_at_the_rate(stack, settings, admin, rate)
    finally:
        limit = {"per_second": own["per_second"], "burst": own["burst"]}
        admin.put("/_admin/enrichment/rate-limit", json=limit).raise_for_status()


async def _backlog_returns_at_the_rate(stack: Any, settings: Any, admin: Any, rate: float) -> None:
    admin.put("/_admin/faults/enrichment", json={"down": True}).raise_for_status()
    runs = [(await _start_lead(stack))[0] for _ in range(int(6 * rate))]
    await _fail_until_open(stack, settings, System.ENRICHMENT, "/companies/none.example")

    def enrichment_rows(workflow_id: str) -> list[Any]:
        return [r for r in audit_rows(settings, workflow_id) if r.system == "enrichment"]

    await wait_for(
        lambda: all(enrichment_rows(run) for run in runs),
        timeout=120,
        what="every run waiting for the enrichment service",
    )
    cleared = datetime.now(UTC)
    admin.delete("/_admin/faults/enrichment").raise_for_status()
    served = await wait_for(
        lambda: (
            (rows := [r for run in runs for r in enrichment_rows(run) if r.status == 200])
            and len({r.workflow_id for r in rows}) == len(runs)
            and rows
        ),
        timeout=180,
        what="every run served by the enrichment service",
    )
    # Every request sent after the recovery (any answer): what the worker let out, at the time
    # it was sent (a row is written when the answer came: the answers' own delays would bunch
    # them, 8 in half a second once with 5 sent per second).
    sent = [r for run in runs for r in enrichment_rows(run) if r.status is not None]
    sent_at = (_stamp(r.at) - r.latency_ms / 1000 for r in sent)
    times = sorted(t for t in sent_at if t >= cleared.timestamp())
    assert len(times) >= len(served) >= len(runs)
    # A token bucket of `rate` per second holds at most `rate` at once: in any half second, at
    # most rate / 2 + rate calls (all at once would be every run within a moment).
    busiest = max(sum(1 for t in times if start <= t < start + 0.5) for start in times)
    assert busiest <= 1.5 * rate, f"{busiest} calls within half a second"
    assert times[-1] - times[0] >= (len(times) - rate) / rate


def _stamp(at: datetime) -> float:
    """An audit row's time as a Unix time (SQLite gives it back without its zone: UTC)."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
