"""Workflow side of re-runs (domain/reruns.py): every activity call carries the run's number."""

from temporalio import workflow
from temporalio.worker import (
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowOutboundInterceptor,
)

from domain.reruns import RERUN_HEADER, RERUN_MEMO


def rerun_number() -> int:
    """0 for a key's first run, n for its n-th re-run."""
    return int(workflow.memo_value(RERUN_MEMO, default=0, type_hint=int))


class RerunHeaders(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_StampActivities(outbound))


class _StampActivities(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[object]:
        number = rerun_number()
        if number:
            stamp = workflow.payload_converter().to_payloads([number])[0]
            input.headers = {**input.headers, RERUN_HEADER: stamp}
        return super().start_activity(input)
