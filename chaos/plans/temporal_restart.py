"""The Temporal server restarted (on its database file) while runs wait on timers and approvals."""

import asyncio
import time
from typing import Any

from chaos import histories
from chaos.invariants import Violation
from chaos.plan import Plan, PlanContext, PlanOutcome, rounds
from chaos.scenarios import InvoiceLarge, LeadNurtured, Scenario, VendorApproved


class TemporalRestart(Plan):
    name = "temporal-restart"
    title = (
        "The Temporal dev server is stopped and started again on its database file while runs "
        "wait for approvals (with their reminder timers) and for nurture timers; the approvals "
        "are decided only after the restart."
    )

    async def run(self, ctx: PlanContext) -> PlanOutcome:
        n = rounds(ctx)
        waiting: list[Scenario] = [
            make() for _ in range(n) for make in (VendorApproved, InvoiceLarge)
        ]
        release = asyncio.Event()
        for scenario in waiting:
            scenario.hold = release
        timers = [LeadNurtured() for _ in range(n)]
        figures: dict[str, int | float | str] = {}
        violations: list[Violation] = []

        async def restart_while_waiting() -> None:
            await asyncio.gather(*(s.waiting.wait() for s in waiting))
            before = await _pending(ctx, waiting)
            started = time.monotonic()
            await ctx.in_thread(ctx.stack.restart_temporal)
            figures["server down (s)"] = round(time.monotonic() - started, 1)
            after = await _pending(ctx, waiting)
            kept = sum(1 for key, approval in before.items() if after.get(key) == approval)
            figures["approvals pending at the restart"] = len(before)
            figures["approvals retained after it"] = kept
            if kept != len(before):
                violations.append(
                    Violation(
                        invariant="approvals survive a server restart",
                        detail=f"{len(before) - kept} of {len(before)} pending approvals lost",
                    )
                )
            release.set()

        runs = await ctx.workload([*waiting, *timers], restart_while_waiting)
        fetched = await histories.fetch(ctx.driver.client, [r.workflow_id for r in runs])
        seen = histories.examine(fetched)
        completed = sum(1 for r in runs if r.closed_status == "COMPLETED")
        figures["runs completed / started"] = f"{completed}/{len(runs)}"
        figures["timer lateness"] = seen.lateness()
        return PlanOutcome(runs=runs, figures=figures, violations=violations)


async def _pending(ctx: PlanContext, scenarios: list[Scenario]) -> dict[str, str]:
    """workflow id -> the approval it waits for (asked until the server answers)."""
    pending = {}
    for scenario in scenarios:
        status = await _status(ctx, scenario.record.workflow_id)
        approval = status.get("pending_approval")
        if approval is not None:
            pending[scenario.record.workflow_id] = approval["request"]["approval_id"]
    return pending


async def _status(ctx: PlanContext, workflow_id: str) -> dict[str, Any]:
    async def ask() -> dict[str, Any] | None:
        return await ctx.driver.status(workflow_id)

    return await ctx.driver.patiently(f"{workflow_id} status", ask, 120)
