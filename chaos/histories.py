"""What the workflow histories say: non-determinism (workflow tasks failed for it, and a replay
of every history against today's code), timer lateness, workflow task failures."""

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from workers.build import sandboxed_runner
from workers.registry import WORKFLOWS

NON_DETERMINISTIC = WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR


@dataclass
class HistoryFigures:
    histories: int = 0
    nondeterminism_failures: int = 0  # workflow tasks failed for non-determinism, live
    replay_failures: int = 0  # histories that do not replay against today's code
    workflow_task_failures: int = 0
    timer_lateness: list[float] = field(default_factory=list)  # seconds late, per fired timer

    def lateness(self) -> str:
        if not self.timer_lateness:
            return "no timers"
        late = sorted(self.timer_lateness)
        p95 = late[min(len(late) - 1, int(0.95 * len(late)))]
        return (
            f"median {statistics.median(late):.2f} s, p95 {p95:.2f} s, "
            f"max {late[-1]:.2f} s over {len(late)} timers"
        )


async def fetch(client: Client, workflow_ids: Iterable[str]) -> list[WorkflowHistory]:
    """The current history of each workflow (every run of a reused id)."""
    histories = []
    for workflow_id in dict.fromkeys(workflow_ids):
        histories.append(await client.get_workflow_handle(workflow_id).fetch_history())
    return histories


def examine(histories: Iterable[WorkflowHistory]) -> HistoryFigures:
    """Workflow task failures and how late each fired timer was."""
    figures = HistoryFigures()
    for history in histories:
        figures.histories += 1
        started: dict[int, float] = {}
        for event in history.events:
            at = event.event_time.ToDatetime().timestamp()
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                figures.workflow_task_failures += 1
                if event.workflow_task_failed_event_attributes.cause == NON_DETERMINISTIC:
                    figures.nondeterminism_failures += 1
            elif event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
                timeout = event.timer_started_event_attributes.start_to_fire_timeout
                started[event.event_id] = at + timeout.ToTimedelta().total_seconds()
            elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
                due = started.get(event.timer_fired_event_attributes.started_event_id)
                if due is not None:
                    figures.timer_lateness.append(max(0.0, at - due))
    return figures


async def replay_failures(client: Client, histories: list[WorkflowHistory]) -> int:
    """How many of the histories fail to replay against the workflow code of today."""
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=client.data_converter,
        workflow_runner=sandboxed_runner(),  # the worker's sandbox, as `replay-check` uses it
    )
    failures = 0
    async with replayer.workflow_replay_iterator(_iterate(histories)) as results:
        async for result in results:
            if result.replay_failure is not None:
                failures += 1
    return failures


async def _iterate(histories: list[WorkflowHistory]):  # type: ignore[no-untyped-def]
    for history in histories:
        yield history
