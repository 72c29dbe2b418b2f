"""The reconciliation's figure: a seeded day of N invoices reconciled by the product's worker,
with invoices per second, CPU per 1,000 invoices (worker, Temporal server, sandbox), the runs
of the chain and the longest history, and the worker's peak memory.

Its floor pages the same volume the same way (the same workflow, pages, runs and export) with
invoices that name no deal, so no CRM or billing call is made per invoice: what remains is
the cost of paging, of Temporal and of the export; A minus the floor is the deals' checks.
The invoices of A cycle over a pool of real CRM deals, so each page checks up to a hundred
deals, and a deal's older invoices on later pages find it following a newer one (one CRM and
one billing read each).
"""

import asyncio
import contextlib
import time
from datetime import date, timedelta
from typing import Any

import httpx
from pydantic import BaseModel
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from bench.procstats import PeakMemory, cpu_seconds
from domain.contract import STATUS_QUERY
from domain.reconciliation import ReconciliationResult, ReconciliationStatus
from runtime.settings import Settings
from starters.reconciliation import start_reconciliation

PROGRESS_EVERY = 60  # seconds
# The days seeded are long past, one per measurement, apart from every other day's invoices.
FIRST_DAY = date(2010, 1, 4)


class ReconciliationFigure(BaseModel):
    kind: str  # "A" (deals checked) or "floor" (no deal to check)
    invoices: int
    seconds: float
    invoices_per_second: float
    cpu_per_1000: dict[str, float]  # worker, server, sandbox: CPU-seconds per 1,000 invoices
    runs: int  # runs of the chain (continue-as-new)
    longest_history: int  # events
    worker_peak_mib: float
    fixed: int
    unresolved: int


async def reconciliation_figures(
    client: Client,
    settings: Settings,
    admin: httpx.Client,
    pids: dict[str, int],
    days: tuple[int, ...],
    deals: list[str],
    say: Any,
    kinds: tuple[str, ...] = ("floor", "A"),
) -> list[ReconciliationFigure]:
    """A and its floor for each day size in `days`; `pids` are the worker's, server's and
    sandbox's processes."""
    figures = []
    for index, count in enumerate(days):
        for kind in kinds:
            # 100 days apart: billing's list of a day also pages the 90 days drafted before it.
            day = FIRST_DAY + timedelta(days=100 * (2 * index + (kind == "A")))
            say(f"reconciliation: {kind}, a day of {count} invoices ({day})")
            seed = {"day": day.isoformat(), "count": count, "prefix": f"B{kind}{count}"}
            seed["deal_ids"] = deals if kind == "A" else []
            # A day of 100,000 invoices is one transaction of the sandbox: minutes on 2 cores.
            answer = await asyncio.to_thread(
                admin.post, "/_admin/billing/invoices/seed", json=seed, timeout=900
            )
            answer.raise_for_status()
            figures.append(await _one(client, settings, pids, kind, day, count, say))
            say(f"  {figures[-1].invoices_per_second:.1f} invoices/s")
    return figures


async def _one(
    client: Client,
    settings: Settings,
    pids: dict[str, int],
    kind: str,
    day: date,
    count: int,
    say: Any,
) -> ReconciliationFigure:
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    began = time.monotonic()
    with PeakMemory({"worker": pids["worker"]}) as memory:
        outcome = await start_reconciliation(client, settings, day)
        handle = client.get_workflow_handle(outcome.workflow_id, result_type=ReconciliationResult)
        waiting = asyncio.ensure_future(handle.result())
        while not waiting.done():
            await asyncio.wait([waiting], timeout=PROGRESS_EVERY)
            if not waiting.done():  # a long day: how far it is, for whoever watches
                with contextlib.suppress(RPCError, WorkflowQueryFailedError):
                    now = await handle.query(STATUS_QUERY, result_type=ReconciliationStatus)
                    say(f"  {now.invoices} invoices after {time.monotonic() - began:.0f} s")
        result = waiting.result()
    seconds = time.monotonic() - began
    spent = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    runs = [w async for w in client.list_workflows(f'WorkflowId = "{outcome.workflow_id}"')]
    return ReconciliationFigure(
        kind=kind,
        invoices=result.invoices,
        seconds=seconds,
        invoices_per_second=result.invoices / seconds if seconds else 0.0,
        cpu_per_1000={name: 1000 * cpu / max(1, count) for name, cpu in spent.items()},
        runs=len(runs),
        longest_history=max((w.history_length for w in runs), default=0),
        worker_peak_mib=memory.peak["worker"] / 2**20,
        fixed=result.fixed_total or 0,
        unresolved=result.unresolved_total or 0,
    )
