"""From what was measured to the report's numbers: per process and kind, the medians and
percentiles; the ratios A/F0 and A/F1; which targets are met."""

import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from bench.business import PROCESSES
from bench.phases import KINDS, Phase
from bench.run import Measured

MIB = 2**20

# (metric, what it is, unit, better when higher)
METRICS: tuple[tuple[str, str, str, bool], ...] = (
    ("throughput", "completed runs per second, draining a backlog", "runs/s", True),
    ("activities_per_second", "activities per second, draining a backlog", "act/s", True),
    ("latency30_p50", "start to completion at 30% of F0's saturation, p50", "s", False),
    ("latency30_p95", "start to completion at 30%, p95", "s", False),
    ("latency30_p99", "start to completion at 30%, p99", "s", False),
    ("latency70_p50", "start to completion at 70% of F0's saturation, p50", "s", False),
    ("latency70_p95", "start to completion at 70%, p95", "s", False),
    ("latency70_p99", "start to completion at 70%, p99", "s", False),
    ("resume_p50", "signal (or update) to resumed run, p50", "s", False),
    ("resume_p95", "signal (or update) to resumed run, p95", "s", False),
    ("resume_p99", "signal (or update) to resumed run, p99", "s", False),
    ("worker_cpu_per_run", "worker CPU-seconds per run (backlog)", "s", False),
    ("server_cpu_per_run", "Temporal server CPU-seconds per run (backlog)", "s", False),
    ("sandbox_cpu_per_run", "sandbox (stand-in systems) CPU-seconds per run (backlog)", "s", False),
    ("api_cpu_per_run", "API CPU-seconds per run (backlog: webhooks, approvals)", "s", False),
    ("stack_cpu_per_run", "worker + server + sandbox + API CPU-seconds per run", "s", False),
    ("worker_peak_rss", "worker memory, peak", "MiB", False),
    ("server_peak_rss", "Temporal server memory, peak", "MiB", False),
)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1), by linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _median(values: Iterable[float]) -> float:
    listed = list(values)
    return statistics.median(listed) if listed else 0.0


def _stack_cpu(phase: Phase) -> float:
    return (
        phase.worker_cpu_seconds + phase.server_cpu_seconds + sum(phase.other_cpu_seconds.values())
    )


def _other_cpu(phase: Phase, name: str) -> float:
    return phase.other_cpu_seconds.get(name, 0.0)


def kind_metrics(phases: list[Phase]) -> dict[str, float]:
    drains = [p for p in phases if p.mode == "drain"]
    metrics = {
        "throughput": _median(p.runs / p.elapsed for p in drains if p.elapsed > 0),
        "activities_per_second": _median(
            p.activities / p.sampled_runs * p.runs / p.elapsed
            for p in drains
            if p.elapsed > 0 and p.sampled_runs
        ),
        "worker_cpu_per_run": _median(p.worker_cpu_seconds / p.runs for p in drains),
        "server_cpu_per_run": _median(p.server_cpu_seconds / p.runs for p in drains),
        "sandbox_cpu_per_run": _median(_other_cpu(p, "sandbox") / p.runs for p in drains),
        "api_cpu_per_run": _median(_other_cpu(p, "api") / p.runs for p in drains),
        "stack_cpu_per_run": _median(_stack_cpu(p) / p.runs for p in drains),
        "worker_peak_rss": max((p.peak_rss.get("worker", 0) for p in phases), default=0) / MIB,
        "server_peak_rss": max((p.peak_rss.get("server", 0) for p in phases), default=0) / MIB,
    }
    for load in ("30", "70"):
        latencies = [x for p in phases if p.mode == f"load{load}" for x in p.latencies()]
        for q in (50, 95, 99):
            metrics[f"latency{load}_p{q}"] = percentile(latencies, q / 100)
    resumes = [x for p in phases if p.mode == "load30" for x in p.resume_seconds]
    for q in (50, 95, 99):
        metrics[f"resume_p{q}"] = percentile(resumes, q / 100)
    return metrics


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def summarize(measured: Measured) -> dict[str, Any]:
    processes: dict[str, Any] = {}
    for process in PROCESSES:
        kinds = {
            kind: kind_metrics(
                [p for p in measured.phases if p.process == process and p.kind == kind]
            )
            for kind in KINDS
        }
        runs = [p for p in measured.phases if p.process == process]
        processes[process] = {
            **kinds,
            "A/F0": {m: _ratio(kinds["A"][m], kinds["F0"][m]) for m in kinds["A"]},
            "A/F1": {m: _ratio(kinds["A"][m], kinds["F1"][m]) for m in kinds["A"]},
            "runs": sum(p.runs for p in runs),
            "completed": sum(p.completed for p in runs),
        }
    parked = measured.parked
    replay = {
        kind: {
            "histories": speed.histories,
            "distinct": speed.distinct,
            "events": speed.events,
            "seconds": speed.seconds,
            "events_per_second": speed.events_per_second,
        }
        for kind, speed in measured.replay.items()
    }
    replay_ratio = _ratio(
        measured.replay["A"].events_per_second, measured.replay["F0"].events_per_second
    )
    return {
        "saturation_f0": measured.saturation,
        "processes": processes,
        "parked": parked.model_dump() if parked else None,
        "replay": {**replay, "A/F0": replay_ratio},
        "reconciliation": [figure.model_dump() for figure in measured.reconciliation],
        "circuit_read": circuit_read(measured, processes),
        "subscriptions": measured.subscriptions.report() if measured.subscriptions else None,
        "targets": targets(processes, measured, replay_ratio)
        + reconciliation_targets(measured.reconciliation)
        + circuit_targets(measured),
    }


def circuit_read(measured: Measured, processes: dict[str, Any]) -> dict[str, Any] | None:
    """The breaker's read per call, and its CPU as a share of the application's worker CPU per
    activity (each process's worker CPU per run over its activities per run)."""
    figure = measured.circuit_read
    if figure is None:
        return None
    shares = {}
    for process, shape in measured.shapes.items():
        activities = shape.count("activity")
        per_activity = processes[process]["A"]["worker_cpu_per_run"] / max(1, activities)
        shares[process] = _ratio(figure.cpu_per_call_ms / 1000, per_activity)
    return {**figure.model_dump(), "share_of_worker_cpu_per_activity": shares}


def circuit_targets(measured: Measured) -> list[dict[str, Any]]:
    """Issue 22's: no more than one indexed read per call on the hot path."""
    figure = measured.circuit_read
    if figure is None:
        return []
    return [
        _check("circuit breaker: SQL statements per call", figure.statements_per_call, 1, False)
    ]


def reconciliation_targets(figures: list[Any]) -> list[dict[str, Any]]:
    """Issue 20's: 100,000 invoices in under 15 minutes, cost per invoice flat (the biggest day
    at most 1.2x the smallest's CPU per invoice), history and worker memory bounded."""
    ours = [f for f in figures if f.kind == "A"]
    if not ours:
        return []
    checks = [
        _check("reconciliation: longest history, events", max(f.longest_history for f in ours),
               10_240, False),
        _check("reconciliation: worker memory, MiB", max(f.worker_peak_mib for f in ours), 300,
               False),
    ]  # fmt: skip
    biggest, smallest = max(ours, key=lambda f: f.invoices), min(ours, key=lambda f: f.invoices)
    if biggest.invoices >= 100_000:
        checks.append(
            _check("reconciliation: 100,000 invoices, minutes", biggest.seconds / 60, 15, False)
        )
    if biggest is not smallest:

        def per_invoice(f: Any) -> float:
            return float(sum(f.cpu_per_1000.values()))

        ratio = _ratio(per_invoice(biggest), per_invoice(smallest))
        checks.append(_check("reconciliation: CPU per invoice, biggest/smallest day", ratio, 1.2,
                             False))  # fmt: skip
    return checks


def _check(name: str, value: float | None, limit: float, at_least: bool) -> dict[str, Any]:
    met = value is not None and (value >= limit if at_least else value <= limit)
    return {
        "target": name,
        "measured": value,
        "limit": limit,
        "comparison": ">=" if at_least else "<=",
        "met": met,
    }


def targets(
    processes: dict[str, Any], measured: Measured, replay_ratio: float | None
) -> list[dict[str, Any]]:
    checks = []
    for process in PROCESSES:
        f1, f0 = processes[process]["A/F1"], processes[process]["A/F0"]
        checks += [
            _check(f"{process}: throughput A/F1", f1["throughput"], 0.8, True),
            _check(f"{process}: worker CPU per run A/F1", f1["worker_cpu_per_run"], 1.5, False),
            _check(f"{process}: latency p50 at 30% A/F1", f1["latency30_p50"], 1.25, False),
            _check(f"{process}: latency p99 at 30% A/F1", f1["latency30_p99"], 1.5, False),
            _check(f"{process}: signal-to-resume p99 A/F0", f0["resume_p99"], 1.5, False),
        ]
    parked = measured.parked
    if parked is not None:
        checks += [
            _check(
                f"{parked.runs} parked runs: all completed", parked.completed, parked.runs, True
            ),
            _check("parked runs: none lost", parked.lost, 0, False),
            _check(
                "parked runs: worker memory while parked (default cache), MiB",
                parked.worker_rss_parked_default_cache / MIB,
                500,
                False,
            ),
        ]
    checks.append(_check("replay: events per second A/F0", replay_ratio, 0.5, True))
    return checks
