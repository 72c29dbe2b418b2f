"""Worker SIGKILL at random points, repeated across runs of every process."""

import asyncio

from chaos import histories
from chaos.invariants import Violation
from chaos.plan import Plan, PlanContext, PlanOutcome, rounds
from chaos.scenarios import ReconciliationToday, mixed


class WorkerKill(Plan):
    name = "worker-kill"
    title = (
        "The worker is SIGKILLed at random moments (mid-call, mid-timer, mid-approval) while "
        "every process runs, and started again; the histories are then replayed against the "
        "code."
    )

    async def run(self, ctx: PlanContext) -> PlanOutcome:
        n = rounds(ctx)
        scenarios = [*mixed(n), ReconciliationToday()]
        kills = 0

        async def kill_at_random() -> None:
            nonlocal kills
            for _ in range(2 if ctx.short else 3 * n):
                await asyncio.sleep(ctx.rng.uniform(1.0, 5.0))
                await ctx.in_thread(ctx.stack.kill_worker)
                kills += 1
                await asyncio.sleep(ctx.rng.uniform(0.0, 2.0))
                await ctx.in_thread(ctx.stack.start_worker)

        runs = await ctx.workload(scenarios, kill_at_random)
        ids = [r.workflow_id for r in runs if r.workflow_id]
        ids += [r.child_workflow_id for r in runs if r.child_workflow_id]
        fetched = await histories.fetch(ctx.driver.client, ids)
        seen = histories.examine(fetched)
        replay = await histories.replay_failures(ctx.driver.client, fetched)
        completed = sum(1 for r in runs if r.closed_status is not None)
        return PlanOutcome(
            runs=runs,
            figures={
                "worker SIGKILLs": kills,
                "runs completed / started": f"{completed}/{len(runs)}",
                "non-determinism errors (live)": seen.nondeterminism_failures,
                "histories replayed / failing replay": f"{len(fetched)}/{replay}",
                "workflow tasks failed": seen.workflow_task_failures,
            },
            violations=_nondeterminism(seen.nondeterminism_failures, replay),
        )


def _nondeterminism(live: int, replay: int) -> list[Violation]:
    found = []
    if live:
        found.append(Violation(invariant="no non-determinism", detail=f"{live} live errors"))
    if replay:
        found.append(Violation(invariant="no non-determinism", detail=f"{replay} failed replays"))
    return found
