"""A soak: the mixed workload under a rolling fault plan for the chosen duration, with the
throughput and the worker's memory sampled as it goes."""

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from chaos.invariants import Violation
from chaos.plan import Plan, PlanContext, PlanOutcome
from chaos.plans.ambiguous import ambiguous_rules
from chaos.plans.http_storms import storm_rules
from chaos.scenarios import RunRecord

# Memory grows while the worker warms up (imports, caches, connection pools): the trend is
# measured after this share of the soak.
WARM_UP_SHARE = 0.3
# Growth past the warm-up that counts as a trend: both more than this share and this slope.
GROWTH_SHARE, GROWTH_MIB_PER_MIN = 0.5, 5.0


class Soak(Plan):
    name = "soak"
    title = (
        "The mixed workload, started continuously, under a rolling fault plan (5xx and 429 "
        "storms, ambiguous writes, slow answers, a Temporal restart, a sealed Vault), for the "
        "chosen duration; throughput per minute and the worker's memory are sampled."
    )

    async def run(self, ctx: PlanContext) -> PlanOutcome:
        stop = asyncio.Event()
        lanes = 4 if ctx.short else 6
        started = time.monotonic()
        samples: list[tuple[float, float]] = []

        async def sample_memory() -> None:
            while not stop.is_set():
                rss = worker_rss_mib(ctx)
                if rss is not None:
                    samples.append((time.monotonic() - started, rss))
                await asyncio.sleep(5)

        faults = _rolling_faults(ctx)
        workload = asyncio.create_task(ctx.stream(stop, lanes))
        sampler = asyncio.create_task(sample_memory())
        roller = asyncio.create_task(_roll(ctx, faults, stop))
        await asyncio.sleep(ctx.duration)
        stop.set()
        applied = await roller
        ctx.clear_faults()
        records = await workload
        await sampler
        return PlanOutcome(
            runs=records,
            figures={
                "duration (min)": round(ctx.duration / 60, 1),
                "runs started / as expected": (
                    f"{len(records)}/{sum(1 for r in records if r.as_expected)}"
                ),
                "runs completed per minute": _per_minute(records, started),
                "faults applied": f"{len(applied)} ({', '.join(dict.fromkeys(applied))})",
                **_memory_figures(samples, ctx.duration),
            },
            violations=_memory_trend(samples, ctx.duration),
        )


Fault = tuple[str, Callable[[], Awaitable[None]]]


def _rolling_faults(ctx: PlanContext) -> list[Fault]:
    seed = ctx.rng.randrange(1000)

    async def rules(all_rules: dict[str, list[dict[str, object]]]) -> None:
        for system, system_rules in all_rules.items():
            ctx.faults(system, system_rules)
        await asyncio.sleep(15)
        ctx.clear_faults()

    async def restart_temporal() -> None:
        await ctx.in_thread(ctx.stack.restart_temporal)

    async def seal_vault() -> None:
        await ctx.in_thread(ctx.stack.seal_vault)
        await asyncio.sleep(5)
        await ctx.in_thread(ctx.stack.unseal_vault)

    return [
        ("5xx/429 storms and slow answers", lambda: rules(storm_rules(seed))),
        ("ambiguous writes", lambda: rules(ambiguous_rules(seed, 0.3))),
        ("Temporal restart", restart_temporal),
        ("Vault sealed 5 s", seal_vault),
    ]


async def _roll(ctx: PlanContext, faults: list[Fault], stop: asyncio.Event) -> list[str]:
    """Apply the faults one after another, a quiet spell between them, until `stop`."""
    applied: list[str] = []
    for name, fault in itertools.cycle(faults):
        try:
            await asyncio.wait_for(stop.wait(), 5)
            return applied
        except TimeoutError:
            pass
        await fault()
        applied.append(name)
    return applied


def worker_rss_mib(ctx: PlanContext) -> float | None:
    """The worker process's resident memory, from /proc (None when it is not running)."""
    pid = ctx.stack.status()["worker"]["pid"]
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _per_minute(records: list[RunRecord], started: float) -> str:
    if not records:
        return "none"
    first = min(r.started_at for r in records if r.started_at)
    buckets: dict[int, int] = {}
    for r in records:
        if r.finished_at is not None and r.as_expected:
            minute = int((r.finished_at - first).total_seconds() // 60)
            buckets[minute] = buckets.get(minute, 0) + 1
    return ", ".join(f"{buckets.get(m, 0)}" for m in range(max(buckets, default=0) + 1))


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope, in MiB per minute."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_m = sum(m for _, m in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (m - mean_m) for t, m in points) / var * 60


def _after_warm_up(
    samples: list[tuple[float, float]], duration: float
) -> list[tuple[float, float]]:
    return [(t, m) for t, m in samples if t >= WARM_UP_SHARE * duration]


def _memory_figures(samples: list[tuple[float, float]], duration: float) -> dict[str, str]:
    if not samples:
        return {"worker memory": "not sampled"}
    steady = _after_warm_up(samples, duration) or samples
    rss = [m for _, m in samples]
    return {
        "worker RSS MiB (first / after warm-up / last / max)": (
            f"{rss[0]:.0f} / {steady[0][1]:.0f} / {rss[-1]:.0f} / {max(rss):.0f}"
        ),
        "worker RSS per minute (MiB)": ", ".join(f"{m:.0f}" for m in _per_minute_means(samples)),
        "worker RSS trend after warm-up (MiB/min)": f"{_slope(steady):+.1f}",
        "memory samples": str(len(samples)),
    }


def _per_minute_means(samples: list[tuple[float, float]]) -> list[float]:
    minutes: dict[int, list[float]] = {}
    for t, m in samples:
        minutes.setdefault(int(t // 60), []).append(m)
    return [sum(v) / len(v) for _, v in sorted(minutes.items())]


def _memory_trend(samples: list[tuple[float, float]], duration: float) -> list[Violation]:
    steady = _after_warm_up(samples, duration)
    if len(steady) < 3:
        return []
    growth = steady[-1][1] / steady[0][1] - 1
    slope = _slope(steady)
    if growth > GROWTH_SHARE and slope > GROWTH_MIB_PER_MIN:
        return [
            Violation(
                invariant="no memory growth trend",
                detail=f"worker RSS grew {growth:.0%} after warm-up ({slope:+.1f} MiB/min)",
            )
        ]
    return []
