"""What a fault plan is and what it works with: the stack and its fault tools, the driver of the
workload, the scale it was asked for, and what it hands back (its runs, its figures, and any
violation only it can see)."""

import asyncio
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from chaos.driver import Driver
from chaos.invariants import Violation
from chaos.scenarios import MIXED, RunRecord, Scenario
from chaos.smtp_proxy import SmtpProxy
from devstack.mailbox import Mailbox
from devstack.stack import Stack

Say = Callable[[str], None]
Figure = int | float | str


@dataclass
class PlanContext:
    stack: Stack
    driver: Driver
    say: Say
    runs: int  # rounds of the workload per plan
    duration: float  # seconds of the soak
    short: bool  # the CI form: fewer runs and examples, same checks
    rng: random.Random
    smtp: SmtpProxy  # between the worker and mailpit: slow sessions, drops after DATA
    canary: dict[str, str] = field(default_factory=dict)

    def admin(self) -> httpx.Client:
        return self.stack.sandbox_admin()

    def faults(self, system: str, rules: list[dict[str, Any]]) -> None:
        with self.admin() as admin:
            admin.put(f"/_admin/faults/{system}", json=rules).raise_for_status()

    def fault_counts(self) -> dict[str, list[dict[str, Any]]]:
        with self.admin() as admin:
            faults: dict[str, list[dict[str, Any]]] = (
                admin.get("/_admin/faults").raise_for_status().json()["faults"]
            )
        return faults

    @property
    def mailbox(self) -> Mailbox:
        """Mailpit: every email sent, and its SMTP refusals (4xx/5xx) on purpose."""
        return Mailbox(self.stack.mailpit_url)

    def clear_faults(self) -> None:
        with self.admin() as admin:
            admin.delete("/_admin/faults").raise_for_status()
        self.mailbox.clear_faults()
        self.smtp.clear()

    async def in_thread(self, call: Callable[[], Any]) -> Any:
        """A blocking stack operation (kill, restart, seal) off the event loop."""
        return await asyncio.to_thread(call)

    async def workload(
        self,
        scenarios: Sequence[Scenario],
        during: Callable[[], Awaitable[None]] | None = None,
        *,
        inject: Callable[[], None] | None = None,
    ) -> list[RunRecord]:
        """Prepare every run (before any fault), `inject` the plan's standing faults, then
        drive the runs all at once while `during` does the plan's timed faults (its faults are
        cleared when it ends, before the runs are awaited to their end)."""
        for scenario in scenarios:
            await scenario.prepare(self.driver)
        if inject is not None:
            inject()
        runs = [asyncio.create_task(s.run(self.driver)) for s in scenarios]
        if during is not None:
            try:
                await during()
            finally:
                self.clear_faults()
        return list(await asyncio.gather(*runs))

    async def stream(self, stop: asyncio.Event, lanes: int) -> list[RunRecord]:
        """Runs of the mixed workload, `lanes` at a time, started one after another until
        `stop` is set; returns them once every run has ended."""
        makers = itertools.cycle(MIXED)
        records: list[RunRecord] = []

        async def lane() -> None:
            while not stop.is_set():
                scenario = next(makers)()
                await scenario.prepare(self.driver)
                records.append(await scenario.run(self.driver))

        await asyncio.gather(*(lane() for _ in range(lanes)))
        return records

    def ledger_actions(self, action: str) -> int:
        """How many ledger events of this action every system has logged so far."""
        with self.admin() as admin:
            events = admin.get("/_admin/ledger").raise_for_status().json()["events"]
        return sum(1 for e in events if e["action"] == action)


@dataclass
class PlanOutcome:
    runs: list[RunRecord]
    figures: dict[str, Figure]
    violations: list[Violation] = field(default_factory=list)


class Plan:
    """One fault plan: a name for `--plan`, the question it answers, and `run`."""

    name = ""
    title = ""

    async def run(self, ctx: PlanContext) -> PlanOutcome:
        raise NotImplementedError


def rounds(ctx: PlanContext, short: int = 1) -> int:
    return short if ctx.short else max(1, ctx.runs)


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 1)
