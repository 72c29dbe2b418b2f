"""What the benchmark reads from histories: a run's shape (for the floor), how long a run took
to resume after a person's signal or update, how many activities it ran, and replay speed."""

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from bench.shape import FloorShape, FloorStep

E = EventType


async def plain_bytes(converter: DataConverter, payloads: Payloads) -> int:
    """Size of the payloads' data once decoded (decrypted): what the code handles."""
    if not payloads.payloads:
        return 0
    codec = converter.payload_codec
    items = list(payloads.payloads)
    opened = await codec.decode(items) if codec is not None else items
    return sum(len(p.data) for p in opened)


async def shape_of(client: Client, history: WorkflowHistory, process: str) -> FloorShape:
    """The steps of one run, in the order its history shows them; child runs included."""
    converter = client.data_converter
    steps: list[FloorStep] = []
    activities: dict[int, FloorStep] = {}
    timer_pending = False
    input_bytes = result_bytes = 0
    for event in history.events:
        kind = event.event_type
        if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            attrs = event.workflow_execution_started_event_attributes
            input_bytes = await plain_bytes(converter, attrs.input)
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs_s = event.activity_task_scheduled_event_attributes
            step = FloorStep(
                kind="activity", input_bytes=await plain_bytes(converter, attrs_s.input)
            )
            activities[event.event_id] = step
            steps.append(step)
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs_c = event.activity_task_completed_event_attributes
            done = activities.get(attrs_c.scheduled_event_id)
            if done is not None:
                done.result_bytes = await plain_bytes(converter, attrs_c.result)
        elif kind == E.EVENT_TYPE_TIMER_STARTED:
            timer_pending = True
        elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            attrs_g = event.workflow_execution_signaled_event_attributes
            size = await plain_bytes(converter, attrs_g.input)
            steps.append(FloorStep(kind="signal", input_bytes=size, timer=timer_pending))
            timer_pending = False
        elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            size = await plain_bytes(converter, request.input.args)
            steps.append(FloorStep(kind="update", input_bytes=size, timer=timer_pending))
            timer_pending = False
        elif kind == E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            child_id = event.start_child_workflow_execution_initiated_event_attributes.workflow_id
            child = await client.get_workflow_handle(child_id).fetch_history()
            steps.append(FloorStep(kind="child", child=await shape_of(client, child, process)))
        elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            attrs_w = event.workflow_execution_completed_event_attributes
            result_bytes = await plain_bytes(converter, attrs_w.result)
    return FloorShape(
        process=process, input_bytes=input_bytes, result_bytes=result_bytes, steps=steps
    )


def _seconds(event: HistoryEvent) -> float:
    return event.event_time.seconds + event.event_time.nanos / 1e9


def resume_latencies(history: WorkflowHistory) -> list[float]:
    """Seconds from each signal (or update request) to the end of the workflow task that
    handled it: the run has resumed and told the server what it does next.

    A signal's time is its `WorkflowExecutionSignaled` event; an update is not an event until
    accepted, so its time is that of the workflow task it was delivered with."""
    events = history.events
    latencies = []
    for i, event in enumerate(events):
        if event.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            completed = next(
                (
                    e
                    for e in events[i + 1 :]
                    if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
                ),
                None,
            )
            if completed is not None:
                latencies.append(_seconds(completed) - _seconds(event))
        elif event.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            before = events[:i]
            completed = next(
                (
                    e
                    for e in reversed(before)
                    if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
                ),
                None,
            )
            if completed is None:
                continue
            scheduled_id = completed.workflow_task_completed_event_attributes.scheduled_event_id
            scheduled = next((e for e in before if e.event_id == scheduled_id), None)
            if scheduled is not None:
                latencies.append(_seconds(completed) - _seconds(scheduled))
    return latencies


def activity_count(history: WorkflowHistory) -> int:
    return sum(1 for e in history.events if e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)


@dataclass
class ReplaySpeed:
    histories: int
    events: int
    seconds: float
    distinct: int = 0  # different histories among them

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


async def replay_speed(
    histories: Sequence[WorkflowHistory],
    workflows: Sequence[type],
    converter: DataConverter,
    runner: SandboxedWorkflowRunner,
) -> ReplaySpeed:
    """Replay every history with the workflow code as a worker would (same sandbox, same data
    converter); fails if any history does not replay."""
    replayer = Replayer(workflows=workflows, data_converter=converter, workflow_runner=runner)

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    began = time.perf_counter()
    await replayer.replay_workflows(each(), raise_on_replay_failure=True)
    seconds = time.perf_counter() - began
    return ReplaySpeed(
        histories=len(histories),
        events=sum(len(h.events) for h in histories),
        seconds=seconds,
    )
