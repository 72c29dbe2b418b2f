"""Committed histories replay against today's workflow code, with the worker's own sandbox runner
and data converter, and a change made without `workflow.patched` is caught: by the replayer and
by `backoffice replay-check`, the command an operator runs before a deploy."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from runtime.temporal import data_converter
from tests.changed_workflows import VendorOnboardingWithAnExtraStep
from tests.record_histories import PATHS
from workers.build import PASSTHROUGH, ActivityContext
from workers.registry import WORKFLOWS
from workers.replay_check import describe_failure, replayer

ROOT = Path(__file__).parent.parent
HISTORY_DIR = Path(__file__).parent / "histories"
HISTORIES = sorted(HISTORY_DIR.rglob("*.json"))
ONE_VENDOR_ONBOARDING = HISTORY_DIR / "vendor_onboarding_happy.json"


def test_committed_histories_exist():
    """Every path `tests.record_histories` records, and the older recordings of older code."""
    names = {p.stem for p in HISTORIES}
    assert set(PATHS) <= names
    older = {p.stem for p in HISTORY_DIR.glob("*.json")}
    assert {
        "vendor_onboarding_happy",
        "vendor_onboarding_rejected",
        "invoice_paid",
        "invoice_voided",
        "invoice_overdue_then_paid",
        "lead_to_cash_won",
        "lead_to_cash_lost",
        "lead_to_cash_nurtured",
        "reconciliation_fixed",
        "reconciliation_scheduled",
    } <= older


def test_the_replayer_is_the_workers():
    config = replayer(data_converter()).config()
    runner = config["workflow_runner"]
    assert isinstance(runner, SandboxedWorkflowRunner)
    assert set(PASSTHROUGH) <= runner.restrictions.passthrough_modules
    assert [type(i) for i in config["interceptors"]] == [ActivityContext]


@pytest.mark.parametrize(
    "path", HISTORIES, ids=[p.relative_to(HISTORY_DIR).as_posix() for p in HISTORIES]
)
async def test_committed_history_replays(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await replayer(data_converter()).replay_workflow(history)
    assert result.replay_failure is None


async def test_a_change_without_patched_fails_replay():
    history = WorkflowHistory.from_json("changed", ONE_VENDOR_ONBOARDING.read_text())
    changed = [VendorOnboardingWithAnExtraStep, *WORKFLOWS[1:]]
    assert WORKFLOWS[0].__name__ == "VendorOnboarding"
    worker_like = replayer(data_converter(), workflows=changed)
    with pytest.raises(NondeterminismError):
        await worker_like.replay_workflow(history)
    result = await worker_like.replay_workflow(history, raise_on_replay_failure=False)
    assert describe_failure(result).startswith("non-determinism in workflow changed (run ")
    assert " at event " in describe_failure(result)


def backoffice(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real `backoffice` console script of this environment."""
    script = Path(sys.executable).parent / "backoffice"
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def changed_code_env(tmp_path: Path, base: dict[str, str]) -> dict[str, str]:
    """The environment of a checkout whose worker registers a VendorOnboarding that gained an
    activity without `workflow.patched`: a copy of `workers/`, first on the path."""
    shutil.copytree(ROOT / "workers", tmp_path / "workers")
    with (tmp_path / "workers" / "registry.py").open("a") as module:
        module.write(
            "\nfrom tests.changed_workflows import VendorOnboardingWithAnExtraStep  # noqa: E402\n"
            "WORKFLOWS[WORKFLOWS.index(VendorOnboarding)] = VendorOnboardingWithAnExtraStep\n"
        )
    return {**base, "PYTHONPATH": f"{tmp_path}:{ROOT}"}


def test_replay_check_replays_the_committed_histories():
    out = backoffice("replay-check", "--histories", str(HISTORY_DIR))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"replay-check: {len(HISTORIES)} histories replayed (")
    assert out.stdout.rstrip().endswith("no non-determinism")


def test_replay_check_fails_on_a_change_without_patched(tmp_path: Path):
    out = backoffice(
        "replay-check",
        "--histories",
        str(HISTORY_DIR),
        env=changed_code_env(tmp_path, {**os.environ}),
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "non-determinism in workflow " in out.stderr
    assert "vendor_onboarding_" in out.stderr  # the file of the first VendorOnboarding history
    assert " at event " in out.stderr


def test_replay_check_refuses_bad_options(tmp_path: Path):
    empty = backoffice("replay-check", "--histories", str(tmp_path))
    assert empty.returncode == 2
    assert f"--histories {tmp_path}: no *.json history files in it" in empty.stderr
    mixed = backoffice("replay-check", "--histories", str(HISTORY_DIR), "--since", "P1D")
    assert mixed.returncode == 2
    assert "--histories replays files only" in mixed.stderr
    since = backoffice("replay-check", "--since", "yesterday")
    assert since.returncode == 2
    assert "--since yesterday: not an ISO 8601 duration" in since.stderr
