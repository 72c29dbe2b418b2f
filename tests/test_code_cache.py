"""The worker's sandbox compiles each of our workflow modules once per process
(workers/code_cache.py), not once per run it starts: three replays of one invoice history in the
worker's own sandbox read invoice_generation.py's code at most once."""

import importlib.machinery
import inspect
from pathlib import Path
from types import CodeType

import pytest
from temporalio.client import WorkflowHistory

from runtime.temporal import data_converter
from workers.replay_check import replayer

HISTORY = Path(__file__).parent / "histories" / "invoice_paid.json"
MODULE = Path(__file__).resolve().parents[1] / "workflows" / "invoice_generation.py"


async def test_a_workflow_module_is_compiled_once_for_many_runs(monkeypatch: pytest.MonkeyPatch):
    reads: list[str] = []
    get_code = importlib.machinery.SourceFileLoader.get_code

    def counted(self: importlib.machinery.SourceFileLoader, fullname: str) -> CodeType | None:
        sandboxed = any("workflow_sandbox" in frame.filename for frame in inspect.stack(0))
        if sandboxed and Path(self.path).resolve() == MODULE:
            reads.append(fullname)
        return get_code(self, fullname)

    monkeypatch.setattr(importlib.machinery.SourceFileLoader, "get_code", counted)
    worker_like = replayer(data_converter())
    for n in range(3):
        history = WorkflowHistory.from_json(f"run-{n}", HISTORY.read_text())
        result = await worker_like.replay_workflow(history)
        assert result.replay_failure is None
    # Each replay is a new run in a new sandbox, which imports the module afresh; without the
    # cache each of them read (or compiled) its code again.
    assert len(reads) <= 1, reads
