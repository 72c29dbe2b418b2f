"""Committed histories replay against today's workflow code without non-determinism errors."""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from runtime.temporal import data_converter
from workers.registry import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_committed_histories_exist():
    names = {p.stem for p in HISTORIES}
    assert {
        "vendor_onboarding_happy",
        "vendor_onboarding_rejected",
        "invoice_paid",
        "invoice_voided",
        "invoice_overdue_then_paid",
        "lead_to_cash_won",
        "lead_to_cash_lost",
        "lead_to_cash_nurtured",
    } <= names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_committed_history_replays(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
