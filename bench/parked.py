"""Parked runs: many vendor onboardings waiting for procurement at once. The worker's memory while
they wait (with the default workflow cache, then after a restart with a small one); then the
worker restarts as shipped and everyone approves: how long the drain takes, and that every run
completes."""

import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from temporalio.client import Client

from bench.business import Starter
from bench.environment import WorkerProcess
from bench.people import approver
from bench.phases import BenchFailed
from bench.procstats import PeakMemory, rss_bytes
from domain.approvals import Decision
from domain.contract import APPROVAL_STATUS, VENDOR_ONBOARDING, vendor_onboarding_id
from runtime.settings import Settings
from starters.approvals import (
    DEFAULT_PAGE_SIZE,
    DecisionUnconfirmed,
    approvals_page,
    decide,
    pending_query,
    workflow_status,
)

CACHE_SETTING = "BACKOFFICE_WORKER_MAX_CACHED_WORKFLOWS"
SETTLE_SECONDS = 3.0
FIRST_PAGE_REPEATS = 5


class ParkedResult(BaseModel):
    runs: int
    park_seconds: float
    worker_rss_parked_default_cache: int
    default_cache: int
    worker_rss_parked_small_cache: int
    small_cache: int
    server_rss_parked: int
    drain_seconds: float
    # The inbox's first page of procurement's approvals while all runs wait, and the visibility
    # list call it starts with, alone (medians of a few).
    first_page_seconds: float = 0.0
    first_page_listing_seconds: float = 0.0
    drain_worker_peak_rss: int
    completed: int
    failed: int
    lost: int
    approvals_resent: int = 0  # decisions Temporal did not confirm in time, sent again
    # Why runs that did not complete ended so (the first few): id, Temporal status, stage,
    # outcome and problem from their `status`.
    failures: list[str] = []


async def _count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


async def _why(client: Client, query: str, most: int = 5) -> list[str]:
    """How the first `most` runs of `query` ended, each on one line."""
    lines = []
    async for execution in client.list_workflows(query, limit=most):
        status = execution.status.name if execution.status else "?"
        try:
            now = await workflow_status(client, execution.id)
            lines.append(f"{execution.id}: {status}, {now.stage}, {now.outcome}: {now.problem}")
        except Exception as exc:  # its status cannot be read: say so, keep the others
            lines.append(f"{execution.id}: {status} (status not readable: {type(exc).__name__})")
    return lines


async def _wait_for(client: Client, query: str, wanted: int, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while (have := await _count(client, query)) < wanted:
        if time.monotonic() > deadline:
            raise BenchFailed(f"parked runs: {have} of {wanted} {what} after {limit:.0f} s")
        await asyncio.sleep(1.0)


async def _first_page(client: Client, settings: Settings) -> tuple[float, float]:
    """Median seconds to the first page of "Waiting for me" for procurement (one visibility call
    and the page's status queries), and to the visibility call alone."""
    roles = [settings.procurement_role]
    query = pending_query(settings, roles)
    pages, listings = [], []
    for _ in range(FIRST_PAGE_REPEATS):
        began = time.perf_counter()
        await client.list_workflows(query, page_size=DEFAULT_PAGE_SIZE).fetch_next_page()
        listings.append(time.perf_counter() - began)
        began = time.perf_counter()
        page = await approvals_page(client, settings, roles, page_size=DEFAULT_PAGE_SIZE)
        pages.append(time.perf_counter() - began)
        if not page.approvals:
            raise BenchFailed("parked runs: the inbox's first page showed none of them")
    return statistics.median(pages), statistics.median(listings)


async def parked_runs(
    client: Client,
    settings: Settings,
    starter: Starter,
    worker: WorkerProcess,
    server_pid: int,
    *,
    runs: int,
    default_cache: int,
    small_cache: int,
    limit_seconds: float,
) -> ParkedResult:
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    mine = f'WorkflowType = "{VENDOR_ONBOARDING}" AND StartTime >= "{since}"'
    keys = [f"PARKED-{i:05d}" for i in range(runs)]
    limit = asyncio.Semaphore(32)

    async def park(key: str) -> None:
        async with limit:
            await starter.start("vendor_onboarding", key)

    began = time.monotonic()
    await asyncio.gather(*(park(k) for k in keys))
    await _wait_for(
        client,
        f'{mine} AND {APPROVAL_STATUS.name} = "pending"',
        runs,
        limit_seconds,
        "waiting for approval",
    )
    park_seconds = time.monotonic() - began
    await asyncio.sleep(SETTLE_SECONDS)
    first_page, listing = await _first_page(client, settings)
    rss_default = rss_bytes(worker.pid)
    server_rss = rss_bytes(server_pid)

    # A restart with a small cache: the parked runs stay in the server, not in the worker.
    await asyncio.to_thread(worker.restart, {CACHE_SETTING: str(small_cache)})
    await asyncio.sleep(SETTLE_SECONDS)
    rss_small = rss_bytes(worker.pid)
    # Then everyone approves, with the worker as shipped (each run is replayed once: no worker
    # keeps weeks-old runs in memory).
    await asyncio.to_thread(worker.restart, {})

    pat = approver("pat")
    unconfirmed: list[str] = []
    began = time.monotonic()
    with PeakMemory({"worker": worker.pid}) as memory:

        async def approve(key: str) -> None:
            async with limit:
                while True:
                    try:
                        outcome = await decide(
                            client,
                            pat,
                            vendor_onboarding_id(key),
                            Decision.APPROVE,
                            "bench: parked run approved",
                            approval_id="risk-review",
                        )
                        break
                    except DecisionUnconfirmed:
                        # The server or worker is busy: as a person would, send it again (the
                        # same update id: recorded once). The phase's time limit bounds this.
                        unconfirmed.append(key)
                if not outcome.accepted:
                    raise BenchFailed(f"parked run {key}: approval refused ({outcome.code})")

        try:
            async with asyncio.timeout(limit_seconds):
                await asyncio.gather(*(approve(k) for k in keys))
        except TimeoutError:
            raise BenchFailed(
                f"parked runs: approvals not all confirmed after {limit_seconds:.0f} s "
                f"({len(unconfirmed)} sent again)"
            ) from None
        await _wait_for(
            client, f'{mine} AND ExecutionStatus != "Running"', runs, limit_seconds, "closed"
        )
    drain_seconds = time.monotonic() - began
    completed = await _count(client, f'{mine} AND ExecutionStatus = "Completed"')
    ended = f'{mine} AND ExecutionStatus != "Running" AND ExecutionStatus != "Completed"'
    failed = await _count(client, ended)
    failures = await _why(client, ended) if failed else []
    return ParkedResult(
        runs=runs,
        park_seconds=park_seconds,
        worker_rss_parked_default_cache=rss_default,
        default_cache=default_cache,
        worker_rss_parked_small_cache=rss_small,
        small_cache=small_cache,
        server_rss_parked=server_rss,
        drain_seconds=drain_seconds,
        first_page_seconds=first_page,
        first_page_listing_seconds=listing,
        drain_worker_peak_rss=memory.peak["worker"],
        completed=completed,
        failed=failed,
        lost=runs - completed - failed,
        approvals_resent=len(unconfirmed),
        failures=failures,
    )
