"""The floor: a workflow that walks a process's shape doing nothing (F0), or one trivial HTTP
call per activity (F1), with the same activity options, waits, timers and payload sizes.

A wait announces itself the way the processes announce an approval (`ApprovalStatus` =
`pending`, `Stage` = `wait-<index>-<signal|update>`), so the benchmark's people find it.
"""

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ActivityCancellationType, ParentClosePolicy

from bench.shape import (
    FloorActivityInput,
    FloorActivityResult,
    FloorInput,
    FloorResult,
    FloorShape,
    FloorStep,
    Proceed,
)
from domain.contract import APPROVAL_STATUS, STAGE

with workflow.unsafe.imports_passed_through():
    import httpx

    from workflows.options import SYSTEM_RETRY

FLOOR_TASK_QUEUE = "bench-floor"
FLOOR_ACTIVITY_QUEUE = "bench-floor-activities"
WORKFLOW_TYPE = "Floor"
# The floor's own handlers (bench/people.py drives them).
PROCEED_SIGNAL = "proceed"
PROCEED_UPDATE = "proceed_now"
# As long as the processes' shortest default approval window: never reached in a benchmark.
WAIT_TIMEOUT = timedelta(days=1)


def child_id(workflow_id: str) -> str:
    return f"{workflow_id}-child"


def filler(size: int) -> str:
    return "x" * max(0, size)


@workflow.defn(name=WORKFLOW_TYPE)
class Floor:
    @workflow.init
    def __init__(self, inp: FloorInput) -> None:
        self._waiting: int | None = None
        self._proceeded: set[int] = set()

    @workflow.run
    async def run(self, inp: FloorInput) -> FloorResult:
        for index, step in enumerate(inp.shape.steps):
            if step.kind == "activity":
                await self._activity(inp, index, step)
            elif step.kind == "child" and step.child is not None:
                await self._child(inp, step.child)
            else:
                await self._wait(index, step)
        return FloorResult(body=filler(inp.shape.result_bytes))

    @workflow.signal(name=PROCEED_SIGNAL)
    def proceed(self, inp: Proceed) -> None:
        self._proceeded.add(inp.index)

    @workflow.update(name=PROCEED_UPDATE)
    def proceed_now(self, inp: Proceed) -> FloorResult:
        self._proceeded.add(inp.index)
        return FloorResult(body="")

    @proceed_now.validator
    def _validate(self, inp: Proceed) -> None:
        if inp.index != self._waiting or inp.index in self._proceeded:
            raise ApplicationError(f"no wait {inp.index} pending", non_retryable=True)

    async def _activity(self, inp: FloorInput, index: int, step: FloorStep) -> None:
        await workflow.execute_activity(
            "floor_step",
            FloorActivityInput(
                index=index,
                http=inp.http,
                echo_url=inp.echo_url,
                result_bytes=step.result_bytes,
                body=filler(step.input_bytes - 90),  # the model's own fields take ~90 bytes
            ),
            result_type=FloorActivityResult,
            task_queue=FLOOR_ACTIVITY_QUEUE,
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=timedelta(hours=1),
            retry_policy=SYSTEM_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )

    async def _wait(self, index: int, step: FloorStep) -> None:
        self._waiting = index
        workflow.upsert_search_attributes(
            [APPROVAL_STATUS.value_set("pending"), STAGE.value_set(f"wait-{index}-{step.kind}")]
        )
        await workflow.wait_condition(
            lambda: index in self._proceeded, timeout=WAIT_TIMEOUT if step.timer else None
        )
        self._waiting = None
        workflow.upsert_search_attributes(
            [APPROVAL_STATUS.value_set("none"), STAGE.value_set(f"step-{index}")]
        )

    async def _child(self, inp: FloorInput, shape: FloorShape) -> None:
        await workflow.execute_child_workflow(
            Floor.run,
            FloorInput(
                shape=shape,
                http=inp.http,
                echo_url=inp.echo_url,
                padding=filler(shape.input_bytes - len(shape.model_dump_json())),
            ),
            id=child_id(workflow.info().workflow_id),
            parent_close_policy=ParentClosePolicy.ABANDON,
        )


class FloorActivities:
    """The floor's one activity; F1 posts its input to the sandbox's echo endpoint."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    @activity.defn(name="floor_step")
    async def step(self, inp: FloorActivityInput) -> FloorActivityResult:
        if inp.http:
            answer = await self._http.post(inp.echo_url, content=inp.model_dump_json())
            answer.raise_for_status()
        return FloorActivityResult(body=filler(inp.result_bytes - 12))
