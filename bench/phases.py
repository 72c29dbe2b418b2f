"""One benchmark phase: start runs of one kind (F0, F1 or A) of one process, as a backlog or at
an open-loop rate, wait until every one has closed, and keep what was measured."""

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Literal

from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from bench.business import Starter
from bench.environment import WorkerProcess
from bench.floor import FLOOR_TASK_QUEUE, Floor, child_id, filler
from bench.histories import activity_count, resume_latencies
from bench.people import People
from bench.procstats import PeakMemory, cpu_seconds
from bench.shape import FloorInput, FloorShape
from starters.start import invoice_workflow_id, lead_to_cash_id, vendor_onboarding_id
from workflows.lead_fulfilment import invoice_number

Kind = Literal["F0", "F1", "A"]
KINDS: tuple[Kind, ...] = ("F0", "F1", "A")


class BenchFailed(Exception):
    """The benchmark could not measure what it set out to (a run failed or never ended)."""


@dataclass
class Phase:
    kind: Kind
    process: str
    mode: str  # "drain", "load30", "load70", "warmup", "parked"
    runs: int
    rate: float | None = None  # open-loop starts per second
    scheduled: dict[str, float] = field(default_factory=dict)  # workflow id -> planned start
    began: float = 0.0  # when the first run was started
    finished: dict[str, tuple[bool, float]] = field(default_factory=dict)  # completed?, when
    worker_cpu_seconds: float = 0.0
    server_cpu_seconds: float = 0.0
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
    ) -> None:
        self._client = client
        self._starter = starter
        self._people = people
        self._workers = workers
        self._server_pid = server_pid
        self._echo_url = echo_url
        self.shapes: dict[str, FloorShape] = {}
        self._phase_no = 0
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
        return lead_to_cash_id(key)

    def child_of(self, kind: Kind, process: str, key: str) -> str | None:
        if kind == "A":
            return invoice_workflow_id(invoice_number(key)) if process == "lead_to_cash" else None
        shape = self.shapes[process]
        return child_id(self.workflow_id(kind, process, key)) if shape.count("child") else None

    async def start(self, kind: Kind, process: str, key: str) -> str:
        if kind == "A":
            return (await self._starter.start(process, key)).workflow_id
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
        await self._client.start_workflow(
            Floor.run,
            inp,
            id=workflow_id,
            task_queue=FLOOR_TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        return workflow_id

    def _keys(self, runs: int) -> list[str]:
        self._phase_no += 1
        return [f"B{self._phase_no:03d}-{i:05d}" for i in range(runs)]

    async def drain(self, kind: Kind, process: str, runs: int, mode: str = "drain") -> Phase:
        """Start `runs` at once (a backlog) and wait until all have closed."""
        phase = Phase(kind=kind, process=process, mode=mode, runs=runs)
        keys = self._keys(runs)
        limit = asyncio.Semaphore(self.start_concurrency)

        async def one(key: str) -> None:
            async with limit:
                workflow_id = await self.start(kind, process, key)
                phase.scheduled[workflow_id] = time.time()

        await self._measured(phase, keys, asyncio.gather(*(one(k) for k in keys)))
        return phase

    async def open_loop(self, kind: Kind, process: str, rate: float, runs: int, mode: str) -> Phase:
        """Start `runs` at `rate` per second on a fixed schedule, whatever the answers' pace."""
        phase = Phase(kind=kind, process=process, mode=mode, runs=runs, rate=rate)
        keys = self._keys(runs)

        async def schedule() -> None:
            loop = asyncio.get_running_loop()
            began, wall = loop.time() + 0.1, time.time() + 0.1
            tasks = []
            for i, key in enumerate(keys):
                delay = began + i / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                phase.scheduled[self.workflow_id(kind, process, key)] = wall + i / rate
                tasks.append(asyncio.create_task(self.start(kind, process, key)))
            await asyncio.gather(*tasks)

        await self._measured(phase, keys, schedule())
        return phase

    async def _measured(self, phase: Phase, keys: list[str], starting: Awaitable[object]) -> None:
        worker = self._worker(phase.kind)
        self._people.with_systems = phase.kind == "A"
        cpu = cpu_seconds(worker.pid), cpu_seconds(self._server_pid)
        with PeakMemory({"worker": worker.pid, "server": self._server_pid}) as memory:
            phase.began = time.time()
            await starting
            await self._until_closed(phase, keys)
        phase.worker_cpu_seconds = cpu_seconds(worker.pid) - cpu[0]
        phase.server_cpu_seconds = cpu_seconds(self._server_pid) - cpu[1]
        phase.peak_rss = dict(memory.peak)
        await self._sample_histories(phase, keys)

    async def _until_closed(self, phase: Phase, keys: list[str]) -> None:
        """Wait for every run's result (a long poll each: no visibility queries that would
        load the server while it is measured)."""
        limit = asyncio.Semaphore(256)

        async def closed(workflow_id: str) -> None:
            async with limit:
                handle = self._client.get_workflow_handle(workflow_id)
                try:
                    await handle.result()
                    completed = True
                except WorkflowFailureError:
                    completed = False
                phase.finished[workflow_id] = (completed, time.time())

        ids = [self.workflow_id(phase.kind, phase.process, k) for k in keys]
        try:
            await asyncio.wait_for(asyncio.gather(*(closed(i) for i in ids)), self.timeout)
        except TimeoutError:
            missing = [i for i in ids if i not in phase.finished]
            raise BenchFailed(
                f"{phase.kind} {phase.process}: {len(missing)} of {len(ids)} runs still open "
                f"after {self.timeout:.0f} s (e.g. {', '.join(missing[:5])}); "
                f"people's errors: {self._people.errors[-3:]}"
            ) from None

    async def _sample_histories(self, phase: Phase, keys: list[str]) -> None:
        sample = keys[: self.history_sample]
        ids: list[str] = []
        for key in sample:
            ids.append(self.workflow_id(phase.kind, phase.process, key))
            child = self.child_of(phase.kind, phase.process, key)
            if child is not None:
                ids.append(child)
        limit = asyncio.Semaphore(16)

        async def fetch(workflow_id: str) -> WorkflowHistory:
            async with limit:
                return await self._client.get_workflow_handle(workflow_id).fetch_history()

        phase.histories = list(await asyncio.gather(*(fetch(i) for i in ids)))
        phase.sampled_runs = len(sample)
        for history in phase.histories:
            phase.resume_seconds += resume_latencies(history)
            phase.activities += activity_count(history)
