"""`backoffice bench --small`: the harness still runs end to end on a stack of its own, every
run it starts completes, and its report is well-formed with every metric present. Times and
ratios are never asserted (the machine is shared)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.business import PROCESSES
from bench.phases import KINDS
from bench.plan import SMALL
from bench.summary import METRICS
from devstack.paths import project_root

# The small run takes a few minutes; give a busy machine room.
TIMEOUT_SECONDS = 1200
pytestmark = pytest.mark.timeout(TIMEOUT_SECONDS + 180)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("bench")
    page = project_root() / "docs" / "performance.md"
    before = page.read_text() if page.exists() else None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKOFFICE_", "TEMPORAL_"))}
    done = subprocess.run(
        [sys.executable, "-m", "backoffice.cli", "bench", "--small", "--out", str(out)],
        cwd=project_root(),
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, f"bench failed:\n{done.stderr[-4000:]}\n{done.stdout[-2000:]}"
    assert (out / "bench.md").is_file()
    loaded: dict[str, object] = json.loads((out / "bench.json").read_text())
    loaded["_out"] = str(out)
    loaded["_markdown"] = (out / "bench.md").read_text()
    loaded["_stdout"] = done.stdout
    loaded["_page_before"] = before
    loaded["_page_after"] = page.read_text() if page.exists() else None
    return loaded


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value >= 0


def test_every_run_completed(report: dict[str, object]) -> None:
    summary = report["summary"]
    assert isinstance(summary, dict)
    for process in PROCESSES:
        numbers = summary["processes"][process]
        assert numbers["runs"] > 0
        assert numbers["completed"] == numbers["runs"], process
    parked = summary["parked"]
    assert parked["runs"] == SMALL.parked_runs
    assert parked["completed"] == SMALL.parked_runs
    assert parked["failed"] == 0 and parked["lost"] == 0


def test_every_metric_is_present(report: dict[str, object]) -> None:
    summary = report["summary"]
    assert isinstance(summary, dict)
    for process in PROCESSES:
        numbers = summary["processes"][process]
        for kind in KINDS:
            for metric, *_ in METRICS:
                assert _finite(numbers[kind][metric]), (process, kind, metric)
        for kind in ("F0", "F1", "A"):
            assert numbers[kind]["throughput"] > 0, (process, kind)
            assert numbers[kind]["worker_cpu_per_run"] > 0, (process, kind)
            stack_cpu = numbers[kind]["stack_cpu_per_run"]
            assert stack_cpu >= numbers[kind]["worker_cpu_per_run"], (process, kind)
        # A's activities call the sandbox's systems; F0's call nothing.
        assert numbers["A"]["sandbox_cpu_per_run"] > numbers["F0"]["sandbox_cpu_per_run"]
        for ratio in ("A/F0", "A/F1"):
            assert set(numbers[ratio]) == {metric for metric, *_ in METRICS}
        assert summary["saturation_f0"][process] > 0
    for kind in ("A", "F0"):
        replay = summary["replay"][kind]
        assert replay["histories"] == SMALL.replays
        assert replay["events"] > replay["histories"]
        assert replay["events_per_second"] > 0
    assert _finite(summary["replay"]["A/F0"])
    assert summary["parked"]["worker_rss_parked_default_cache"] > 0
    assert summary["parked"]["worker_rss_parked_small_cache"] > 0
    # The inbox's first page and the visibility call it starts with were both measured.
    assert summary["parked"]["first_page_seconds"] > 0
    assert summary["parked"]["first_page_listing_seconds"] > 0


def test_the_floor_has_the_processes_shapes(report: dict[str, object]) -> None:
    """The floor's shapes were read from real runs: the happy paths' activities and waits."""
    shapes = report["shapes"]
    assert isinstance(shapes, dict)
    assert set(shapes) == set(PROCESSES)
    # The decision reads the directory; the approval is posted to Slack and updated after it.
    assert shapes["vendor_onboarding"]["activities"] == 9
    assert shapes["vendor_onboarding"]["updates"] == 1
    # One payment: Stripe's invoice.updated and invoice.paid both signal it (counted once).
    assert shapes["invoice"]["signals"] in (1, 2) and shapes["invoice"]["updates"] == 1
    assert shapes["lead_to_cash"]["child_runs"] == 1
    assert shapes["lead_to_cash"]["signals"] >= 3  # deal won, contract signed, invoice paid


def test_targets_and_tables_are_reported(report: dict[str, object]) -> None:
    summary = report["summary"]
    assert isinstance(summary, dict)
    targets = summary["targets"]
    # The CI-sized run reconciles one day of 1,000: its history and memory targets only.
    reconciliation = [t for t in targets if t["target"].startswith("reconciliation: ")]
    assert {t["target"] for t in reconciliation} == {
        "reconciliation: longest history, events",
        "reconciliation: worker memory, MiB",
    }
    # The breaker's read on the hot path: exactly one SQL statement per admission (issue 22).
    (circuit,) = [t for t in targets if t["target"].startswith("circuit breaker: ")]
    assert circuit["measured"] == 1 and circuit["met"] is True
    assert len(targets) == 5 * len(PROCESSES) + 4 + len(reconciliation) + 1
    assert all(isinstance(t["met"], bool) and "target" in t for t in targets)
    markdown = str(report["_markdown"])
    assert "| process | metric | unit | F0 | F1 | A | A/F0 | A/F1 |" in markdown
    for process in PROCESSES:
        assert process.replace("_", " ") in markdown
    assert "| target | measured | limit | met |" in markdown
    assert "Circuit breaker, read before each call (200 admissions" in markdown
    shares = summary["circuit_read"]["share_of_worker_cpu_per_activity"]
    assert set(shares) == set(PROCESSES) and all(_finite(v) for v in shares.values())
    assert "Server: Temporal dev server (SQLite); worker processes: 1." in markdown
    assert markdown.strip() in str(report["_stdout"])
    assert report["commit"] and report["machine"]["cores"]  # type: ignore[index]


def test_small_run_leaves_the_performance_page_alone(report: dict[str, object]) -> None:
    assert report["_page_before"] == report["_page_after"]


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backoffice.cli", "bench", *args],
        cwd=project_root(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_render_writes_the_pages_again_without_measuring(
    report: dict[str, object], tmp_path: Path
) -> None:
    source = Path(str(report["_out"])) / "bench.json"
    done = _bench("--render", str(source), "--out", str(tmp_path), "--docs", str(tmp_path / "p.md"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "bench.md").read_text() == report["_markdown"]
    assert json.loads((tmp_path / "bench.json").read_text())["summary"] == report["summary"]
    assert not (tmp_path / "p.md").exists()  # a small run makes no performance page


def test_render_names_a_file_that_is_no_report(tmp_path: Path) -> None:
    missing = _bench("--render", str(tmp_path / "nope.json"), "--out", str(tmp_path))
    assert missing.returncode == 2
    assert "nope.json" in missing.stderr and "cannot read" in missing.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{"summary": {}}')
    done = _bench("--render", str(broken), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "broken.json is not a bench.json" in done.stderr
    assert not (tmp_path / "out").exists()  # nothing written


def test_reconciliation_days_must_be_invoice_counts(tmp_path: Path) -> None:
    for bad in ("0", "1000,x", ",", "-5"):
        done = _bench("--small", "--reconciliation-days", bad, "--out", str(tmp_path / "out"))
        assert done.returncode == 2, bad
        assert "--reconciliation-days" in done.stderr and "invoice counts" in done.stderr, bad
    assert not (tmp_path / "out").exists()  # nothing measured, nothing written


def test_subscriptions_wait_and_each_period_is_billed_and_paid(report: dict[str, object]) -> None:
    """Issue 23's figure: the waiting subscriptions all waited, and every first period of A and
    of its floor was billed and paid (A's first run continued as new, its invoice completed)."""
    summary = report["summary"]
    assert isinstance(summary, dict)
    figure = summary["subscriptions"]
    assert figure["waiting"] == SMALL.subscriptions_waiting
    assert figure["still_waiting"] == SMALL.subscriptions_waiting
    assert figure["worker_rss_waiting"] > 0 and figure["server_rss_waiting"] > 0
    periods = figure["periods"]
    assert {p["kind"] for p in periods} == {"F0", "A"}
    for cost in periods:
        assert cost["periods"] == SMALL.subscription_periods
        assert cost["billed_and_paid"] == cost["periods"], cost
        assert cost["stack_cpu_per_period"] >= cost["worker_cpu_per_period"] > 0
    # The first run bills its period with an invoice run (a child), as the floor walks it.
    assert figure["shape"]["child_runs"] == 1
    assert _finite(figure["period_a_over_f0"])
    assert all(isinstance(v, float) for v in figure["per_1000"].values())
    assert "| subscriptions | |" in str(report["_markdown"])
