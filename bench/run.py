"""The whole benchmark: its own stack, warm-up and shapes, interleaved F0/F1/A phases (backlog
drains, then open-loop loads at fractions of F0's saturation), parked runs, replay speed."""

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from temporalio.client import Client, WorkflowHistory

from bench.business import PROCESSES, Starter
from bench.circuit_read import CircuitReadFigure, circuit_read_cost
from bench.environment import (
    WorkerProcess,
    bench_stack,
    floor_worker,
    other_pids,
    product_worker,
    temporal_pid,
)
from bench.floor import Floor
from bench.histories import ReplaySpeed, replay_speed
from bench.parked import ParkedResult, parked_runs
from bench.people import People, Systems
from bench.phases import KINDS, Driver, Phase
from bench.plan import Plan
from bench.prod_stack import ProdBenchStack
from bench.reconciliation import ReconciliationFigure, reconciliation_figures
from bench.shape import FloorShape
from bench.subscriptions import SubscriptionFigure, subscription_figure
from devstack.crm_seed import SandboxCrm
from devstack.stack import Stack
from runtime.settings import Settings, load_settings
from runtime.temporal import connect
from workers.build import sandboxed_runner
from workers.registry import WORKFLOWS

Say = Callable[[str], None]
SERVERS = {
    "dev": "Temporal dev server (SQLite)",
    "prod": "temporal-server v1.30.1 on PostgreSQL",
}
DEAL_POOL = 10
RECONCILED_DEALS = 100  # the reconciliation's days cycle over this many CRM deals


class Measured:
    """Everything one run of the benchmark measured, for the report."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.phases: list[Phase] = []
        self.saturation: dict[str, float] = {}
        self.parked: ParkedResult | None = None
        self.replay: dict[str, ReplaySpeed] = {}
        self.settings: dict[str, object] = {}
        self.shapes: dict[str, FloorShape] = {}
        self.reconciliation: list[ReconciliationFigure] = []
        self.circuit_read: CircuitReadFigure | None = None
        self.subscriptions: SubscriptionFigure | None = None
        self.wall_seconds = 0.0


@contextmanager
def client_environment(stack: Stack) -> Iterator[None]:
    """This process talks to the bench stack as a client (settings, Temporal address)."""
    saved = dict(os.environ)
    os.environ["BACKOFFICE_ENV_FILE"] = str(stack.env_file)
    os.environ.update(stack.client_env())
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _throughput(phase: Phase) -> float:
    return phase.runs / phase.elapsed if phase.elapsed > 0 else 0.0


@dataclass
class Harness:
    """What a measurement works with: settings and client, the two workers, the people at work,
    the driver of phases, the CRM's deals, and the processes it measures."""

    stack: Stack
    settings: Settings
    client: Client
    crm: SandboxCrm
    workers: dict[str, WorkerProcess]
    people: People
    starter: Starter
    driver: Driver
    server: int  # the Temporal server's process
    sandbox: int  # the sandbox's process


@asynccontextmanager
async def harness(stack: Stack, plan: Plan, replicas: int = 1) -> AsyncIterator[Harness]:
    """On `stack`: the product's and the floor's workers started (`replicas` processes each)
    and the people at work; all stopped at the end."""
    settings = load_settings()
    client = await connect(settings=settings)
    systems = Systems(stack)
    with stack.sandbox_admin() as admin:
        admin.put("/_admin/enrichment/rate-limit", json={"per_second": 100000}).raise_for_status()
    crm = await asyncio.to_thread(SandboxCrm, stack)
    deals = [await asyncio.to_thread(crm.account_and_deal) for _ in range(DEAL_POOL)]
    workers = {
        "product": product_worker(stack, replicas),
        "floor": floor_worker(stack, replicas),
    }
    for worker in workers.values():
        await asyncio.to_thread(worker.start)
    people = People(client, systems)
    stop = asyncio.Event()
    watching = asyncio.create_task(people.run(stop))
    server = temporal_pid(stack)
    starter = Starter(client, settings, deals)
    echo = f"{stack.sandbox_url}/_admin/echo"
    others = other_pids(stack)
    driver = Driver(client, starter, people, workers, server, echo, others)
    driver.history_sample = plan.history_sample
    driver.timeout = plan.phase_timeout_seconds
    try:
        yield Harness(
            stack,
            settings,
            client,
            crm,
            workers,
            people,
            starter,
            driver,
            server,
            others["sandbox"],
        )
    finally:
        stop.set()
        await watching
        await systems.close()
        for worker in workers.values():
            await asyncio.to_thread(worker.stop)


async def _measure(stack: Stack, plan: Plan, say: Say, server_kind: str, replicas: int) -> Measured:
    measured = Measured(plan)
    async with harness(stack, plan, replicas) as h:
        settings = h.settings
        measured.settings = {
            "server": SERVERS[server_kind],
            "worker_processes": replicas,
            "worker_max_cached_workflows": settings.worker_max_cached_workflows,
            "worker_max_concurrent_workflow_tasks": settings.worker_max_concurrent_workflow_tasks,
            "worker_max_concurrent_activities": settings.worker_max_concurrent_activities,
            "worker_workflow_task_pollers": settings.worker_workflow_task_pollers,
            "worker_activity_task_pollers": settings.worker_activity_task_pollers,
        }
        await _processes(h, plan, say, measured)
        await _parked(h, plan, say, measured)
        say(f"replay: {plan.replays} histories of the application and of the floor")
        measured.replay = await _replays(h.client, measured, plan.replays)
        say(f"circuit breaker: {plan.circuit_reads} admissions of a closed breaker")
        measured.circuit_read = await asyncio.to_thread(
            circuit_read_cost, settings, plan.circuit_reads
        )
        await _reconciliation(h, plan, say, measured)
        measured.subscriptions = await subscriptions(h, plan, say)
    return measured


async def subscriptions(h: Harness, plan: Plan, say: Say) -> SubscriptionFigure:
    """The subscriptions' figure (bench/subscriptions.py) at the plan's size."""
    return await subscription_figure(
        h.driver,
        h.client,
        h.starter,
        h.workers["product"].pid,
        h.server,
        waiting=plan.subscriptions_waiting,
        periods=plan.subscription_periods,
        rounds=plan.rounds,
        quiet_seconds=plan.quiet_seconds,
        default_cache=h.settings.worker_max_cached_workflows,
        limit_seconds=plan.phase_timeout_seconds,
        say=say,
    )


async def _processes(h: Harness, plan: Plan, say: Say, measured: Measured) -> None:
    """Warm-up and shapes; backlogs of F0, F1 and A of each process; then open-loop loads at
    fractions of F0's saturation."""
    driver = h.driver
    say("warm-up: a few runs of each process, whose histories give the floor its shapes")
    for process in PROCESSES:
        warm = await driver.drain("A", process, plan.warmup_runs, mode="warmup")
        await driver.shape(warm.histories[0], process)
    measured.shapes = dict(driver.shapes)
    activities = {p: max(1, shape.count("activity")) for p, shape in measured.shapes.items()}
    for process in PROCESSES:
        for kind in ("F0", "F1"):
            await driver.drain(kind, process, plan.warmup_runs, mode="warmup")
    for round_no in range(plan.rounds):
        for process in PROCESSES:
            runs = max(plan.drain_runs, plan.drain_activities // activities[process])
            for kind in KINDS:
                say(f"round {round_no + 1}: backlog of {runs} {kind} {process}")
                phase = await driver.drain(kind, process, runs)
                measured.phases.append(phase)
                say(f"  {_throughput(phase):.2f} runs/s")
    for process in PROCESSES:
        floors = [p for p in measured.phases if p.kind == "F0" and p.process == process]
        measured.saturation[process] = statistics.median(_throughput(p) for p in floors)
    for round_no in range(plan.rounds):
        for load in plan.loads:
            for process in PROCESSES:
                rate = load * measured.saturation[process]
                runs = round(rate * plan.load_seconds)
                runs = max(plan.load_min_runs, min(plan.load_max_runs, runs))
                for kind in KINDS:
                    say(
                        f"round {round_no + 1}: {kind} {process} at {rate:.2f}/s "
                        f"({load:.0%} of F0), {runs} runs"
                    )
                    phase = await driver.open_loop(
                        kind, process, rate, runs, f"load{round(load * 100)}"
                    )
                    measured.phases.append(phase)


async def _parked(h: Harness, plan: Plan, say: Say, measured: Measured) -> None:
    say(f"parked: {plan.parked_runs} vendor onboardings waiting for approval")
    h.people.paused = True
    measured.parked = await parked_runs(
        h.client,
        h.settings,
        h.starter,
        h.workers["product"],
        h.server,
        runs=plan.parked_runs,
        default_cache=h.settings.worker_max_cached_workflows,
        small_cache=plan.small_cache,
        limit_seconds=plan.phase_timeout_seconds,
    )
    h.people.paused = False


async def _reconciliation(h: Harness, plan: Plan, say: Say, measured: Measured) -> None:
    """The days, with the people away (nothing else runs meanwhile)."""
    h.people.paused = True
    crm = h.crm
    pool = [(await asyncio.to_thread(crm.account_and_deal))[1] for _ in range(RECONCILED_DEALS)]
    pids = {"worker": h.workers["product"].pid, "server": h.server, "sandbox": h.sandbox}
    with h.stack.sandbox_admin() as admin:
        measured.reconciliation = await reconciliation_figures(
            h.client, h.settings, admin, pids, plan.reconciliation_days, pool, say
        )
    h.people.paused = False


def _replay_set(measured: Measured, kind: str, count: int) -> tuple[list[WorkflowHistory], int]:
    """`count` histories of `kind`, the same number of each process (parents with their
    children), taken in turn from the phases' samples; a process with fewer distinct histories
    repeats them. Returns them and how many are distinct."""
    chosen: list[WorkflowHistory] = []
    distinct = 0
    for n, process in enumerate(PROCESSES):
        pool = [
            h
            for p in measured.phases
            if p.kind == kind and p.process == process
            for h in p.histories
        ]
        wanted = count // len(PROCESSES) + (1 if n < count % len(PROCESSES) else 0)
        distinct += min(len(pool), wanted)
        chosen += [pool[i % len(pool)] for i in range(wanted)] if pool else []
    return chosen, distinct


async def _replays(client: Client, measured: Measured, count: int) -> dict[str, ReplaySpeed]:
    """Replay speed of the application's histories and of the floor's, same process mix."""
    converter = client.data_converter
    app, app_distinct = _replay_set(measured, "A", count)
    floor, floor_distinct = _replay_set(measured, "F0", count)
    speeds = {
        "A": await replay_speed(app, WORKFLOWS, converter, sandboxed_runner()),
        "F0": await replay_speed(floor, [Floor], converter, sandboxed_runner("bench.shape")),
    }
    speeds["A"].distinct, speeds["F0"].distinct = app_distinct, floor_distinct
    return speeds


@contextmanager
def stack_of_its_own(server: str = "dev") -> Iterator[Stack]:
    """A bench stack in a temporary directory (the dev stack, or the production shape:
    `server`), this process its client; stopped and deleted at the end (kept with
    BACKOFFICE_BENCH_KEEP=1)."""
    data_dir = Path(tempfile.mkdtemp(prefix="backoffice-bench-"))
    stack = bench_stack(data_dir) if server == "dev" else cast(Stack, ProdBenchStack(data_dir))
    try:
        stack.up()
        with client_environment(stack):
            yield stack
    finally:
        stack.down()
        if os.environ.get("BACKOFFICE_BENCH_KEEP") != "1":
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"bench data kept in {data_dir}", file=sys.stderr)


def run_bench(plan: Plan, say: Say, server: str = "dev", replicas: int = 1) -> Measured:
    """Start a stack of its own in a temporary directory (the dev stack, or the production
    shape: `server`), measure with `replicas` processes per worker, stop it, delete it."""
    began = time.monotonic()
    with stack_of_its_own(server) as stack:
        measured = asyncio.run(_measure(stack, plan, say, server, replicas))
    measured.wall_seconds = time.monotonic() - began
    return measured
