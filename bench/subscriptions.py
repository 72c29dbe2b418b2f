"""Subscriptions: many waiting for their next period, and what billing one period costs.

Waiting: `waiting` subscriptions started with their first period weeks away, as a subscription
spends nearly all its life (one durable timer each). The worker's and the Temporal server's
memory before and after, and their CPU over a quiet window before and after, give what a
thousand waiting subscriptions cost.

A period: backlogs of subscriptions whose first period is due as they start. Each first run bills
the period with an invoice run (the benchmark's payers pay it) and continues as new; the floor
(F0) walks the same shape. CPU per period, A against F0.

Alone, at full size: `python -m bench.subscriptions_alone 10000`.
"""

import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client

from bench.business import Starter
from bench.phases import BenchFailed, Driver, Phase
from bench.procstats import cpu_seconds, rss_bytes
from domain.contract import SUBSCRIPTION, SUBSCRIPTION_STATUS
from domain.subscription import SubscriptionStatus

PROCESS = "subscription"
# The waiting ones' first period: weeks away, so none falls due while the benchmark runs.
WAITING_ANCHOR_DAYS = 28
SETTLE_SECONDS = 3.0
START_CONCURRENCY = 32
MIB = 2**20


class PeriodCost(BaseModel):
    """One backlog of first periods, of the application (A) or the floor (F0)."""

    kind: str
    periods: int
    worker_cpu_per_period: float
    server_cpu_per_period: float
    stack_cpu_per_period: float  # worker + server + sandbox + API
    billed_and_paid: int  # A: parents continued as new and invoices completed; F0: completed


class SubscriptionFigure(BaseModel):
    waiting: int
    start_seconds: float  # to start them all and see each waiting
    quiet_seconds: float  # each CPU window
    default_cache: int  # the worker's workflow cache: how many runs it keeps in memory
    worker_rss_before: int
    worker_rss_waiting: int
    server_rss_before: int
    server_rss_waiting: int
    # CPU-seconds per second over the quiet windows, without and with them waiting.
    worker_cpu_rate_before: float
    worker_cpu_rate_waiting: float
    server_cpu_rate_before: float
    server_cpu_rate_waiting: float
    still_waiting: int  # after the second window: none billed, none ended
    periods: list[PeriodCost]
    shape: dict[str, int]  # the first run's shape, as the floor walks it

    def per_thousand(self) -> dict[str, float]:
        """What 1,000 waiting subscriptions add: MiB of memory, and CPU-seconds per hour."""
        scale = 1000 / max(1, self.waiting)
        return {
            "worker_mib": (self.worker_rss_waiting - self.worker_rss_before) / MIB * scale,
            "server_mib": (self.server_rss_waiting - self.server_rss_before) / MIB * scale,
            "worker_cpu_per_hour": (self.worker_cpu_rate_waiting - self.worker_cpu_rate_before)
            * 3600
            * scale,
            "server_cpu_per_hour": (self.server_cpu_rate_waiting - self.server_cpu_rate_before)
            * 3600
            * scale,
        }

    def report(self) -> dict[str, Any]:
        """Every number, and what they add up to."""
        return {
            **self.model_dump(),
            "per_1000": self.per_thousand(),
            "period_a_over_f0": self.period_ratio(),
        }

    def period_ratio(self) -> float | None:
        """A's stack CPU per period over F0's (medians of the backlogs)."""
        a = [p.stack_cpu_per_period for p in self.periods if p.kind == "A"]
        f0 = [p.stack_cpu_per_period for p in self.periods if p.kind == "F0"]
        if not a or not f0 or min(f0) <= 0:
            return None
        return statistics.median(a) / statistics.median(f0)


async def subscription_figure(
    driver: Driver,
    client: Client,
    starter: Starter,
    worker_pid: int,
    server_pid: int,
    *,
    waiting: int,
    periods: int,
    rounds: int,
    quiet_seconds: float,
    default_cache: int,
    limit_seconds: float,
    say: Any,
) -> SubscriptionFigure:
    """The period's cost first (A and F0, `rounds` backlogs of `periods` each), then `waiting`
    subscriptions left waiting; the driver's people must be at work (they pay the invoices)."""
    say("subscriptions: warm-up, and the first run's shape for the floor")
    warm = await driver.drain("A", PROCESS, 1, mode="warmup")
    shape = await driver.shape(warm.histories[0], PROCESS)
    await driver.drain("F0", PROCESS, 1, mode="warmup")
    costs = []
    for round_no in range(rounds):
        for kind in ("F0", "A"):
            say(f"subscriptions, round {round_no + 1}: {periods} first periods of {kind}")
            phase = await driver.drain(kind, PROCESS, periods)
            costs.append(_cost(driver, phase))
    say(f"subscriptions: {waiting} waiting for their first period")
    await asyncio.sleep(quiet_seconds)  # the periods' last signals and webhooks die down
    worker_before, server_before = rss_bytes(worker_pid), rss_bytes(server_pid)
    rates_before = await _cpu_rates(worker_pid, server_pid, quiet_seconds)
    began = time.monotonic()
    since = _since()
    anchor = (datetime.now(UTC) + timedelta(days=WAITING_ANCHOR_DAYS)).date()
    limit = asyncio.Semaphore(START_CONCURRENCY)

    async def start(number: int) -> None:
        async with limit:
            await starter.start_subscription(f"WAIT-{number:05d}", anchor)

    await asyncio.gather(*(start(n) for n in range(waiting)))
    active = f'{_mine(since)} AND {SUBSCRIPTION_STATUS.name} = "{SubscriptionStatus.ACTIVE.value}"'
    await _wait_for(client, active, waiting, limit_seconds)
    start_seconds = time.monotonic() - began
    await asyncio.sleep(SETTLE_SECONDS)
    worker_waiting, server_waiting = rss_bytes(worker_pid), rss_bytes(server_pid)
    rates_waiting = await _cpu_rates(worker_pid, server_pid, quiet_seconds)
    still = (await client.count_workflows(f"{active} AND ExecutionStatus = 'Running'")).count
    return SubscriptionFigure(
        waiting=waiting,
        start_seconds=start_seconds,
        quiet_seconds=quiet_seconds,
        default_cache=default_cache,
        worker_rss_before=worker_before,
        worker_rss_waiting=worker_waiting,
        server_rss_before=server_before,
        server_rss_waiting=server_waiting,
        worker_cpu_rate_before=rates_before[0],
        worker_cpu_rate_waiting=rates_waiting[0],
        server_cpu_rate_before=rates_before[1],
        server_cpu_rate_waiting=rates_waiting[1],
        still_waiting=still,
        periods=costs,
        shape={
            "activities": shape.count("activity"),
            "signals": shape.count("signal"),
            "updates": shape.count("update"),
            "child_runs": shape.count("child"),
        },
    )


def _cost(driver: Driver, phase: Phase) -> PeriodCost:
    """CPU per period of a backlog; billed and paid: each first run closed (continued as new or,
    for the floor, completed) and its invoice run completed."""
    others = sum(phase.other_cpu_seconds.values())
    done = 0
    for key in phase.keys:
        parent = phase.finished.get(driver.workflow_id(phase.kind, PROCESS, key))
        child = driver.child_of(phase.kind, PROCESS, key)
        paid = child is not None and phase.closed.get(child, (False, 0.0))[0]
        if parent is not None and (phase.kind == "A" or parent[0]) and paid:
            done += 1
    return PeriodCost(
        kind=phase.kind,
        periods=phase.runs,
        worker_cpu_per_period=phase.worker_cpu_seconds / phase.runs,
        server_cpu_per_period=phase.server_cpu_seconds / phase.runs,
        stack_cpu_per_period=(phase.worker_cpu_seconds + phase.server_cpu_seconds + others)
        / phase.runs,
        billed_and_paid=done,
    )


def _since() -> str:
    moment = datetime.now(UTC) - timedelta(seconds=1)
    return moment.isoformat().replace("+00:00", "Z")


def _mine(since: str) -> str:
    return f'WorkflowType = "{SUBSCRIPTION}" AND StartTime >= "{since}"'


async def _cpu_rates(worker_pid: int, server_pid: int, seconds: float) -> tuple[float, float]:
    """CPU-seconds per second of the worker and the server over `seconds` of quiet."""
    before = cpu_seconds(worker_pid), cpu_seconds(server_pid)
    began = time.monotonic()
    await asyncio.sleep(seconds)
    spent = time.monotonic() - began
    return (
        (cpu_seconds(worker_pid) - before[0]) / spent,
        (cpu_seconds(server_pid) - before[1]) / spent,
    )


async def _wait_for(client: Client, query: str, wanted: int, limit: float) -> None:
    deadline = time.monotonic() + limit
    while (have := (await client.count_workflows(query)).count) < wanted:
        if time.monotonic() > deadline:
            raise BenchFailed(
                f"subscriptions: {have} of {wanted} waiting for their first period after "
                f"{limit:.0f} s"
            )
        await asyncio.sleep(1.0)
