"""One system down for minutes while every process runs: its circuit breaker opens, at most one
probe per cool-down reaches it (counted by the sandbox, not by us), the runs that waited for it
complete once it is back (none compensated because of it: every run ends as expected), nothing
is created twice, and the backlog comes back at the system's rate limit."""

import asyncio
import time
from datetime import UTC, datetime

from chaos.audit_figures import since
from chaos.evidence import audit_rows
from chaos.invariants import Violation
from chaos.plan import Plan, PlanContext, PlanOutcome, rounds
from chaos.scenarios import mixed
from domain.errors import ErrorCode
from domain.systems import System
from runtime.circuit import CircuitState, read_all, view
from runtime.db import make_engine

SYSTEM = System.ERP
DOWN_SECONDS = {True: 20.0, False: 180.0}  # short (CI) and full
OPEN_WITHIN_SECONDS = 120.0
POLL_SECONDS = 0.5


class Outage(Plan):
    name = "outage"
    title = (
        "The ERP down for minutes while every process runs: its circuit breaker opens, at most "
        "one probe per cool-down reaches it, the vendor onboardings waiting for it complete "
        "once it is back (none compensated), and its backlog returns at its rate limit."
    )

    async def run(self, ctx: PlanContext) -> PlanOutcome:
        settings = ctx.driver.settings
        policy = settings.circuit_policy(SYSTEM)
        engine = make_engine(settings.resolved_database_url)
        down_for = DOWN_SECONDS[ctx.short]
        seen: dict[str, float] = {}

        def state() -> CircuitState:
            return view(SYSTEM.value, read_all(engine).get(SYSTEM.value)).state

        def reached() -> int:
            """Requests that reached the ERP since the fault was set (the sandbox's count)."""
            rules = ctx.fault_counts().get(SYSTEM.value, [])
            return sum(int(rule["matched"]) for rule in rules)

        async def outage() -> None:
            seen["down_at"] = time.time()
            ctx.faults(SYSTEM.value, [{"down": True}])
            for _ in range(int(OPEN_WITHIN_SECONDS / POLL_SECONDS)):
                if state() is not CircuitState.CLOSED:
                    break
                await asyncio.sleep(POLL_SECONDS)
            seen["opened"] = float(state() is not CircuitState.CLOSED)
            at_open, opened_at = reached(), time.monotonic()
            await asyncio.sleep(down_for)
            seen["probes"] = reached() - at_open
            seen["open_seconds"] = time.monotonic() - opened_at
            seen["back_at"] = time.time()

        try:
            runs = await ctx.workload(mixed(rounds(ctx)), outage)
        finally:
            engine.dispose()
        down_at = datetime.fromtimestamp(seen["down_at"], UTC)
        rows = since(audit_rows(settings.resolved_database_url), down_at)
        erp = [r for r in rows if r.system == SYSTEM.value]
        refused = sum(1 for r in erp if r.error_code == ErrorCode.CIRCUIT_OPEN)
        served = sorted(r.at.timestamp() for r in erp if r.status is not None and r.status < 400)
        allowed = int(seen["open_seconds"] / policy.cool_down.total_seconds()) + 1
        rate = settings.rate_limits.get(SYSTEM)
        busiest = max(
            (sum(1 for t in served if start <= t < start + 0.5) for start in served), default=0
        )
        violations = []
        if not seen["opened"]:
            violations.append(
                Violation(
                    invariant="breaker opens",
                    detail=f"still closed after {OPEN_WITHIN_SECONDS:g} s",
                )
            )
        if seen["probes"] > allowed:
            violations.append(
                Violation(
                    invariant="one probe per cool-down",
                    detail=f"{seen['probes']:g} requests reached the ERP while it was down "
                    f"(at most {allowed})",
                )
            )
        if rate is not None and busiest > 1.5 * rate:
            violations.append(
                Violation(
                    invariant="backlog at the rate limit",
                    detail=f"{busiest} ERP calls within half a second (limit {rate:g}/s)",
                )
            )
        completed = sum(1 for r in runs if r.closed_status is not None)
        return PlanOutcome(
            runs=runs,
            figures={
                "seconds down after the breaker opened": round(seen["open_seconds"], 1),
                "requests reaching the ERP meanwhile (bound)": f"{seen['probes']:g} ({allowed})",
                "attempts refused by the breaker (no request sent)": refused,
                "ERP calls served afterwards / busiest half second": f"{len(served)} / {busiest}",
                "runs completed / started": f"{completed}/{len(runs)}",
            },
            violations=violations,
        )
