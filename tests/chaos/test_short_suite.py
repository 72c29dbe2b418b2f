"""The short fault suite, as CI runs it: `backoffice chaos --plan short` (every plan in its CI
form and a two-minute soak, on a stack of its own) holds every invariant, and its report is
well formed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.plans import PLANS
from chaos.session import SessionReport

# The suite starts its own stack and runs about six minutes on a quiet 2-core machine.
SUITE_TIMEOUT = 1500
pytestmark = pytest.mark.timeout(SUITE_TIMEOUT + 60)


def test_short_suite_holds_every_invariant(tmp_path: Path):
    figures, report = tmp_path / "figures.json", tmp_path / "reliability.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKOFFICE_", "TEMPORAL_"))}
    done = subprocess.run(
        [
            sys.executable, "-m", "backoffice.cli", "chaos", "--plan", "short",
            "--json", str(figures), "--report", str(report), "--data-dir", str(tmp_path),
            # The stack's folder (its components' logs, Temporal's database) stays in the test's
            # temp dir, so a failure can be read afterwards; the stack itself is stopped.
            "--keep",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, violations_in(figures) + done.stdout[-6000:] + done.stderr[-3000:]

    result = SessionReport.model_validate_json(figures.read_text())
    assert [r.plan for r in result.results] == [plan.name for plan in PLANS]
    assert result.options.short and result.options.duration_seconds == 120
    for outcome in result.results:
        assert outcome.violations == [], outcome.plan
        assert outcome.figures, f"{outcome.plan} reported no figures"
        assert outcome.as_expected == outcome.started, outcome.plan
        if outcome.plan != "bad-input":  # the fuzz plan drives no business runs
            assert outcome.started > 0, outcome.plan
    by_plan = {r.plan: r.figures for r in result.results}
    assert int(by_plan["worker-kill"]["worker SIGKILLs"]) >= 1
    assert by_plan["worker-kill"]["non-determinism errors (live)"] == 0
    assert int(by_plan["ambiguous-writes"]["ambiguous writes injected"]) > 0
    assert by_plan["graceful-shutdown"]["emails per person"] == "1"
    assert by_plan["bad-input"]["API answers 5xx"] == 0
    assert int(by_plan["outage"]["attempts refused by the breaker (no request sent)"]) > 0
    review = by_plan["review-queue"]
    assert review["runs that waited in the review queue"] == "3/3"
    assert review["decisions accepted in the inbox (retry, skip, compensate)"] == 3
    assert str(by_plan["soak"]["duration (min)"]) == "2.0"
    assert all(n == 0 for k, n in by_plan["canaries"].items() if k.startswith("canaries found"))

    text = report.read_text()
    assert text.startswith("# Reliability")
    assert "on commit " in text and "every invariant held" in text
    for plan in PLANS:
        assert f"\n## {plan.name}\n" in text
        assert f"| {plan.name} | " in text
    # The suite leaves nothing running: no process works in its stack's data dir any more.
    assert "chaos: starting a stack of its own" in done.stdout
    assert _processes_using(tmp_path) == []


def _processes_using(folder: Path) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in command:
            found.append(command)
    return found


def violations_in(figures: Path) -> str:
    """Each violated invariant and each run that did not end as expected, for the failure
    message (the suite's output is long; CI keeps its tail)."""
    if not figures.exists():
        return "no figures written\n"
    result = SessionReport.model_validate_json(figures.read_text())
    lines = []
    for outcome in result.results:
        lines += [f"{outcome.plan}: {v.invariant}: {v.detail}" for v in outcome.violations]
        lines += [
            f"{outcome.plan}: {run.workflow_id} ({run.variant}) expected {run.expected_status} "
            f"{run.expected_outcome}, ended {run.closed_status} {run.outcome}; "
            f"problem {run.problem}; driver {run.driver_error}"
            for run in outcome.runs
            if not run.as_expected
        ]
    return "\n".join(lines)[:4000] + "\n"
