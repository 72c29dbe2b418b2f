"""One benchmark phase: start runs of one kind (F0, F1 or A) of one process, as a backlog or at
an open-loop rate, wait until every one has closed, and keep what was measured."""

import asyncio
import json
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Literal

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from bench.business import Starter, subscription_key
from bench.environment import WorkerProcess
from bench.floor import FLOOR_TASK_QUEUE, WORKFLOW_TYPE, Floor, child_id, filler
from bench.histories import activity_count, resume_latencies, shape_of
from bench.people import People
from bench.procstats import PeakMemory, cpu_seconds
from bench.shape import FloorInput, FloorShape
from domain import contract
from domain.contract import (
    invoice_workflow_id,
    lead_to_cash_id,
    subscription_workflow_id,
    vendor_onboarding_id,
)
from domain.lead import lead_invoice_number
from domain.subscription import period_invoice_number

Kind = Literal["F0", "F1", "A"]
KINDS: tuple[Kind, ...] = ("F0", "F1", "A")
A_TYPES = {
    "vendor_onboarding": contract.VENDOR_ONBOARDING,
    "invoice": contract.INVOICE_GENERATION,
    "lead_to_cash": contract.LEAD_TO_CASH,
    "subscription": contract.SUBSCRIPTION,
}
E = EventType
CLOSED = frozenset(
    {
        E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        E.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        E.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
        E.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        E.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
        E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    }
)


class BenchFailed(Exception):
    """The benchmark could not measure what it set out to (a run failed or never ended)."""


@dataclass
class Phase:
    kind: Kind
    process: str
    mode: str  # "drain", "load30", "load70", "warmup", "parked"
    runs: int
    rate: float | None = None  # open-loop starts per second
    keys: list[str] = field(default_factory=list)  # the runs' business keys
    scheduled: dict[str, float] = field(default_factory=dict)  # workflow id -> planned start
    began: float = 0.0  # when the first run was started
    finished: dict[str, tuple[bool, float]] = field(default_factory=dict)  # completed?, closed
    closed: dict[str, tuple[bool, float]] = field(default_factory=dict)  # children included
    events: dict[str, WorkflowHistory] = field(default_factory=dict)
    following: list["asyncio.Task[None]"] = field(default_factory=list)
    worker_cpu_seconds: float = 0.0
    server_cpu_seconds: float = 0.0
    # The rest of the stack: the sandbox (stand-in systems) and the API (webhooks, approvals).
    other_cpu_seconds: dict[str, float] = field(default_factory=dict)
    peak_rss: dict[str, int] = field(default_factory=dict)
    histories: list[WorkflowHistory] = field(default_factory=list)  # parents and children
    resume_seconds: list[float] = field(default_factory=list)
    activities: int = 0  # in the sampled histories
    sampled_runs: int = 0

    @property
    def completed(self) -> int:
        return sum(1 for completed, _ in self.finished.values() if completed)

    @property
    def elapsed(self) -> float:
        """From the first start to the last result."""
        if not self.finished:
            return 0.0
        return max(at for _, at in self.finished.values()) - self.began

    def latencies(self) -> list[float]:
        """Planned start to result, per run (open loop: queueing before the start counts)."""
        return [
            at - self.scheduled[i] for i, (_, at) in self.finished.items() if i in self.scheduled
        ]


class Driver:
    """Starts runs of each kind and waits for them, measuring the worker that runs them."""

    def __init__(
        self,
        client: Client,
        starter: Starter,
        people: People,
        workers: dict[str, WorkerProcess],
        server_pid: int,
        echo_url: str,
        others: Mapping[str, int] | None = None,
    ) -> None:
        self._client = client
        self._starter = starter
        self._people = people
        self._workers = workers
        self._server_pid = server_pid
        self._others = dict(others or {})
        self._echo_url = echo_url
        self.shapes: dict[str, FloorShape] = {}
        self._phase_no = 0
        self._following: set[asyncio.Task[None]] = set()
        self.start_concurrency = 16
        self.history_sample = 100
        self.timeout = 900.0

    def _worker(self, kind: Kind) -> WorkerProcess:
        return self._workers["product" if kind == "A" else "floor"]

    def workflow_id(self, kind: Kind, process: str, key: str) -> str:
        if kind != "A":
            return f"floor-{kind.lower()}-{process}-{key}"
        if process == "vendor_onboarding":
            return vendor_onboarding_id(key)
        if process == "invoice":
            return invoice_workflow_id(key)
        if process == "subscription":
            return subscription_workflow_id(subscription_key(key))
        return lead_to_cash_id(key)

    def workflow_type(self, kind: Kind, process: str) -> str:
        return A_TYPES[process] if kind == "A" else WORKFLOW_TYPE

    def child_of(self, kind: Kind, process: str, key: str) -> str | None:
        if kind == "A":
            if process == "lead_to_cash":
                return invoice_workflow_id(lead_invoice_number(key))
            if process == "subscription":  # its first period's invoice
                return invoice_workflow_id(period_invoice_number(subscription_key(key), 0))
            return None
        shape = self.shapes[process]
        return child_id(self.workflow_id(kind, process, key)) if shape.count("child") else None

    async def shape(self, history: WorkflowHistory, process: str) -> FloorShape:
        """The floor's shape of `process`, read from one of its runs."""
        self.shapes[process] = await shape_of(self._client, history, process)
        return self.shapes[process]

    async def start(self, kind: Kind, process: str, key: str) -> tuple[str, str]:
        """Start one run (the product's start for A, the same RPCs for the floor): its workflow
        id and run id."""
        if kind == "A":
            started = await self._starter.start(process, key)
            return started.workflow_id, started.run_id
        shape = self.shapes[process]
        workflow_id = self.workflow_id(kind, process, key)
        self._people.floor_shapes[workflow_id] = shape
        for step in shape.steps:
            if step.child is not None:
                self._people.floor_shapes[child_id(workflow_id)] = step.child
        inp = FloorInput(
            shape=shape,
            http=kind == "F1",
            echo_url=self._echo_url,
            padding="",
        )
        inp.padding = filler(shape.input_bytes - len(inp.model_dump_json()))
        # The product's start: is there a run with this id? If not, start one.
        try:
            await self._client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        handle = await self._client.start_workflow(
            Floor.run,
            inp,
            id=workflow_id,
            task_queue=FLOOR_TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        return workflow_id, handle.result_run_id or ""

    def _keys(self, runs: int) -> list[str]:
        self._phase_no += 1
        return [f"B{self._phase_no:03d}-{i:05d}" for i in range(runs)]

    async def drain(self, kind: Kind, process: str, runs: int, mode: str = "drain") -> Phase:
        """Start `runs` at once (a backlog) and wait until all have closed."""
        keys = self._keys(runs)
        phase = Phase(kind=kind, process=process, mode=mode, runs=runs, keys=keys)
        limit = asyncio.Semaphore(self.start_concurrency)

        async def one(key: str) -> None:
            async with limit:
                workflow_id, run_id = await self.start(kind, process, key)
                phase.scheduled[workflow_id] = time.time()
                self._watch(phase, workflow_id, self.workflow_type(kind, process), run_id)

        await self._measured(phase, keys, asyncio.gather(*(one(k) for k in keys)))
        return phase

    async def open_loop(self, kind: Kind, process: str, rate: float, runs: int, mode: str) -> Phase:
        """Start `runs` at `rate` per second on a fixed schedule, whatever the answers' pace."""
        keys = self._keys(runs)
        phase = Phase(kind=kind, process=process, mode=mode, runs=runs, rate=rate, keys=keys)

        async def start_and_watch(key: str) -> None:
            workflow_id, run_id = await self.start(kind, process, key)
            self._watch(phase, workflow_id, self.workflow_type(kind, process), run_id)

        async def schedule() -> None:
            loop = asyncio.get_running_loop()
            began, wall = loop.time() + 0.1, time.time() + 0.1
            phase.began = wall
            tasks = []
            for i, key in enumerate(keys):
                delay = began + i / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                phase.scheduled[self.workflow_id(kind, process, key)] = wall + i / rate
                tasks.append(asyncio.create_task(start_and_watch(key)))
            await asyncio.gather(*tasks)

        await self._measured(phase, keys, schedule())
        return phase

    async def _measured(self, phase: Phase, keys: list[str], starting: Awaitable[object]) -> None:
        worker = self._worker(phase.kind)
        self._people.with_systems = phase.kind == "A"
        # With several worker processes: their CPU summed, the first one's memory.
        cpu = sum(map(cpu_seconds, worker.pids)), cpu_seconds(self._server_pid)
        others = {name: cpu_seconds(pid) for name, pid in self._others.items()}
        with PeakMemory({"worker": worker.pid, "server": self._server_pid}) as memory:
            phase.began = time.time()
            await starting
            await self._until_closed(phase, keys)
        phase.worker_cpu_seconds = sum(map(cpu_seconds, worker.pids)) - cpu[0]
        phase.server_cpu_seconds = cpu_seconds(self._server_pid) - cpu[1]
        phase.other_cpu_seconds = {
            name: cpu_seconds(pid) - others[name] for name, pid in self._others.items()
        }
        phase.peak_rss = dict(memory.peak)
        await self._sample_histories(phase, keys)

    def _watch(self, phase: Phase, workflow_id: str, workflow_type: str, run_id: str) -> None:
        """Follow a run's history as it grows: tell the people when it waits for them, start
        following its child when it has one, note when it closes and keep its events. The run
        is the one started (a run that continues as new closes there)."""

        async def follow() -> None:
            events: list[HistoryEvent] = []
            handle = self._client.get_workflow_handle(workflow_id, run_id=run_id or None)
            async for event in handle.fetch_history_events(wait_new_event=True):
                events.append(event)
                kind = event.event_type
                if kind == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
                    fields = event.upsert_workflow_search_attributes_event_attributes
                    found = _keywords(fields.search_attributes.indexed_fields)
                    if found.get(contract.APPROVAL_STATUS.name) == "pending":
                        stage = found.get(contract.STAGE.name, "")
                        self._people.waiting(workflow_id, workflow_type, stage)
                elif kind == E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
                    child = event.child_workflow_execution_started_event_attributes
                    self._watch(
                        phase,
                        child.workflow_execution.workflow_id,
                        child.workflow_type.name,
                        child.workflow_execution.run_id,
                    )
                elif kind in CLOSED:
                    closed_at = event.event_time.ToDatetime(UTC).timestamp()
                    phase.closed[workflow_id] = (
                        kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
                        closed_at,
                    )
                    phase.events[workflow_id] = WorkflowHistory(workflow_id, events)
                    return

        task = asyncio.create_task(follow())
        self._following.add(task)
        phase.following.append(task)
        task.add_done_callback(self._following.discard)

    async def _until_closed(self, phase: Phase, keys: list[str]) -> None:
        ids = [self.workflow_id(phase.kind, phase.process, k) for k in keys]
        try:
            async with asyncio.timeout(self.timeout):
                while pending := [t for t in phase.following if not t.done()]:
                    await asyncio.gather(*pending)
        except TimeoutError:
            missing = [i for i in ids if i not in phase.closed]
            raise BenchFailed(
                f"{phase.kind} {phase.process}: {len(missing)} of {len(ids)} runs still open "
                f"after {self.timeout:.0f} s (e.g. {', '.join(missing[:5])}); "
                f"people's errors: {self._people.errors[-3:]}"
            ) from None
        for workflow_id in ids:
            phase.finished[workflow_id] = phase.closed[workflow_id]

    async def _sample_histories(self, phase: Phase, keys: list[str]) -> None:
        """Resume latencies and activity counts of the first runs (children included)."""
        sample = keys[: self.history_sample]
        for key in sample:
            ids = [self.workflow_id(phase.kind, phase.process, key)]
            child = self.child_of(phase.kind, phase.process, key)
            ids += [child] if child is not None else []
            for workflow_id in ids:
                history = phase.events[workflow_id]
                phase.histories.append(history)
                phase.resume_seconds += resume_latencies(history)
                phase.activities += activity_count(history)
        phase.sampled_runs = len(sample)
        phase.events.clear()  # the rest is not needed: memory


def _keywords(fields: Mapping[str, Payload]) -> dict[str, str]:
    """Keyword search attributes of an upsert, as text."""
    found = {}
    for name, payload in fields.items():
        try:
            value = json.loads(payload.data)
        except ValueError:
            continue
        if isinstance(value, str):
            found[name] = value
    return found
