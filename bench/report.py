"""The benchmark's report: `bench.json` (every number), `bench.md` (the table), and, for the full
run, `docs/performance.md` (machine, commit, date, table, targets, findings, how to reproduce)."""

import json
import os
import platform
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.business import PROCESSES
from bench.plan import Plan
from bench.summary import METRICS, MIB
from devstack.paths import project_root

FINDINGS = Path(__file__).with_name("findings.md")
# What was measured on the production shape (`--server prod`), kept by hand until a full run.
PROD_SHAPE = Path(__file__).with_name("prod-shape.md")
COMMAND = ".venv/bin/backoffice bench"


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        memory_kib = 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 2**20, 1),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load_average": list(os.getloadavg()),
    }


def commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=project_root(), capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (" (with uncommitted changes)" if git("status", "--porcelain", "-uno") else "")


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "MiB":
        return f"{value:.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def table(summary: dict[str, Any]) -> str:
    """One table: every metric of every process, F0, F1, A and the ratios A/F0, A/F1."""
    lines = [
        "| process | metric | unit | F0 | F1 | A | A/F0 | A/F1 |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for process in PROCESSES:
        numbers = summary["processes"][process]
        for metric, what, unit, _ in METRICS:
            row = [process.replace("_", " "), what, unit]
            # .get: a report written before a metric existed shows "-"
            row += [_number(numbers[k].get(metric), unit) for k in ("F0", "F1", "A")]
            row += [_number(numbers[r].get(metric)) for r in ("A/F0", "A/F1")]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def targets_table(summary: dict[str, Any]) -> str:
    lines = ["| target | measured | limit | met |", "|---|---:|---:|---|"]
    for check in summary["targets"]:
        met = "yes" if check["met"] else "**no**"
        lines.append(
            f"| {check['target']} | {_number(check['measured'])} | "
            f"{check['comparison']} {_number(check['limit'])} | {met} |"
        )
    return "\n".join(lines)


def _first_page(parked: dict[str, Any]) -> str:
    page, listing = parked.get("first_page_seconds", 0.0), parked.get("first_page_listing_seconds")
    if not listing:
        return "not measured"
    return f"{page:.3f} s / {listing:.3f} s = {page / listing:.1f}"


def parked_table(summary: dict[str, Any]) -> str:
    parked = summary["parked"]
    if parked is None:
        return ""
    rows = [
        ("runs parked (vendor onboardings waiting for procurement)", f"{parked['runs']}"),
        ("time to park them all", f"{parked['park_seconds']:.0f} s"),
        (
            f"worker memory while parked, default cache ({parked['default_cache']} runs)",
            f"{parked['worker_rss_parked_default_cache'] / MIB:.0f} MiB",
        ),
        (
            f"worker memory while parked, small cache ({parked['small_cache']} runs, restarted)",
            f"{parked['worker_rss_parked_small_cache'] / MIB:.0f} MiB",
        ),
        ("Temporal server memory while parked", f"{parked['server_rss_parked'] / MIB:.0f} MiB"),
        (
            "inbox's first page while parked (50 approvals) / the visibility call alone",
            _first_page(parked),
        ),
        (
            "drain: everyone approves until all closed (worker restarted, default cache)",
            f"{parked['drain_seconds']:.0f} s",
        ),
        (
            "worker memory during the drain, peak",
            f"{parked['drain_worker_peak_rss'] / MIB:.0f} MiB",
        ),
        (
            "approvals Temporal did not confirm in time, sent again (same update id)",
            f"{parked.get('approvals_resent', 0)}",
        ),
        (
            "completed / failed / lost",
            f"{parked['completed']} / {parked['failed']} / {parked['lost']}",
        ),
    ]
    rows += [("a run that did not complete", why) for why in parked.get("failures", [])]
    return "\n".join(["| parked runs | |", "|---|---:|", *(f"| {a} | {b} |" for a, b in rows)])


def replay_table(summary: dict[str, Any]) -> str:
    replay = summary["replay"]
    lines = [
        "| replay | histories (distinct) | events | seconds | events/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind in ("F0", "A"):
        r = replay[kind]
        lines.append(
            f"| {kind} | {r['histories']} ({r['distinct']}) | {r['events']} | "
            f"{r['seconds']:.1f} | {r['events_per_second']:.0f} |"
        )
    lines.append(f"| A/F0 | | | | {_number(replay['A/F0'])} |")
    return "\n".join(lines)


def _server_line(settings: dict[str, Any]) -> str:
    """Which Temporal server, and how many processes each worker ran as (a report of an older
    run, without them, was the dev server with one)."""
    server = settings.get("server", "Temporal dev server (SQLite)")
    return f"Server: {server}; worker processes: {settings.get('worker_processes', 1)}."


def reconciliation_table(summary: dict[str, Any]) -> str:
    figures = summary.get("reconciliation") or []
    if not figures:
        return ""
    lines = [
        "Reconciliation: a seeded day reconciled (A) and its floor (the same pages, runs and "
        "export, with no deal to check); CPU-seconds per 1,000 invoices.",
        "",
        "| day | kind | invoices/s | minutes | worker CPU | server CPU | sandbox CPU | runs "
        "| longest history | worker MiB | fixed | unresolved |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        cpu = f["cpu_per_1000"]
        lines.append(
            f"| {f['invoices']:,} | {f['kind']} | {_number(f['invoices_per_second'])} "
            f"| {_number(f['seconds'] / 60)} | {_number(cpu['worker'])} | {_number(cpu['server'])} "
            f"| {_number(cpu['sandbox'])} | {f['runs']} | {f['longest_history']:,} "
            f"| {_number(f['worker_peak_mib'])} | {f['fixed']:,} | {f['unresolved']:,} |"
        )
    return "\n".join(lines)


def subscriptions_table(summary: dict[str, Any]) -> str:
    figure = summary.get("subscriptions")
    if not figure:
        return ""
    per = figure["per_1000"]
    rows = [
        (
            "subscriptions waiting for their first period (weeks away)",
            f"{figure['waiting']:,} ({figure['still_waiting']:,} still waiting at the end)",
        ),
        ("time to start them all and see each waiting", f"{figure['start_seconds']:.0f} s"),
        (
            f"worker memory, before / while they wait (cache of {figure['default_cache']} runs)",
            f"{figure['worker_rss_before'] / MIB:.0f} / {figure['worker_rss_waiting'] / MIB:.0f}"
            " MiB",
        ),
        (
            "Temporal server memory, before / while they wait",
            f"{figure['server_rss_before'] / MIB:.0f} / {figure['server_rss_waiting'] / MIB:.0f}"
            " MiB",
        ),
        (
            "per 1,000 waiting: worker memory (it grows only until the cache is full)",
            f"{_number(per['worker_mib'])} MiB",
        ),
        ("per 1,000 waiting: Temporal server memory", f"{_number(per['server_mib'])} MiB"),
        (
            f"per 1,000 waiting: Temporal server CPU ({figure['quiet_seconds']:.0f} s windows, "
            "with them less without)",
            f"{_number(per['server_cpu_per_hour'])} CPU-s/hour",
        ),
        ("per 1,000 waiting: worker CPU", f"{_number(per['worker_cpu_per_hour'])} CPU-s/hour"),
    ]
    for kind in ("F0", "A"):
        costs = [p for p in figure["periods"] if p["kind"] == kind]
        if costs:
            stack = statistics.median(p["stack_cpu_per_period"] for p in costs)
            worker = statistics.median(p["worker_cpu_per_period"] for p in costs)
            paid = sum(p["billed_and_paid"] for p in costs)
            periods = sum(p["periods"] for p in costs)
            rows.append(
                (
                    f"one period billed and paid, {kind}: stack / worker CPU-s per period "
                    f"({paid} of {periods} billed and paid)",
                    f"{_number(stack)} / {_number(worker)}",
                )
            )
    rows.append(("one period, stack CPU A/F0", _number(figure["period_a_over_f0"])))
    return "\n".join(["| subscriptions | |", "|---|---:|", *(f"| {a} | {b} |" for a, b in rows)])


def circuit_line(summary: dict[str, Any]) -> str:
    figure = summary.get("circuit_read")
    if not figure:
        return ""
    shares = ", ".join(
        f"{process} {_number(100 * share)} %"
        for process, share in figure["share_of_worker_cpu_per_activity"].items()
        if share is not None
    )
    return (
        f"Circuit breaker, read before each call ({figure['calls']:,} admissions of a closed "
        f"breaker on the app database): {_number(figure['statements_per_call'])} SQL statement "
        f"per call, p50 {_number(figure['wall_p50_ms'])} ms, p99 {_number(figure['wall_p99_ms'])} "
        f"ms, CPU {_number(figure['cpu_per_call_ms'])} ms per call (the audit row every call "
        f"writes: {_number(figure['audit_insert_cpu_ms'])} ms); as a share of the application's "
        f"worker CPU per activity: {shares}."
    )


def markdown(report: dict[str, Any]) -> str:
    summary = report["summary"]
    m = report["machine"]
    return "\n\n".join(
        part
        for part in [
            f"Run `{report['plan']['name']}` of {report['date']}, commit {report['commit']}, "
            f"{report['wall_seconds'] / 60:.1f} minutes. Machine: {m['cpu']}, {m['cores']} cores, "
            f"{m['memory_gib']} GiB, {m['system']}, Python {m['python']}; load average "
            f"{m['load_average'][0]:.2f} at the start, "
            f"{report['load_average_end'][0]:.2f} at the end.",
            _server_line(report.get("worker_settings", {})),
            "F0 saturation (runs/s, backlog), the base of the open-loop rates: "
            + ", ".join(f"{p} {v:.2f}" for p, v in summary["saturation_f0"].items()),
            table(summary),
            targets_table(summary),
            parked_table(summary),
            replay_table(summary),
            reconciliation_table(summary),
            subscriptions_table(summary),
            circuit_line(summary),
        ]
        if part
    )


def build(
    measured: Any, plan: Plan, summary: dict[str, Any], started: dict[str, Any]
) -> dict[str, Any]:
    return {
        "plan": plan.model_dump(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": started,
        "load_average_end": list(os.getloadavg()),
        "wall_seconds": measured.wall_seconds,
        "worker_settings": measured.settings,
        "shapes": {
            process: {
                "activities": shape.count("activity"),
                "signals": shape.count("signal"),
                "updates": shape.count("update"),
                "child_runs": shape.count("child"),
            }
            for process, shape in measured.shapes.items()
        },
        "summary": summary,
    }


def performance_page(report: dict[str, Any]) -> str:
    findings = FINDINGS.read_text() if FINDINGS.is_file() else ""
    if PROD_SHAPE.is_file():
        findings += "\n" + PROD_SHAPE.read_text()
    return f"""# Performance

*Written by `{COMMAND}` — do not edit by hand; change `bench/` and run it again
(or `--render` it again from the run's `bench.json`).*

How close is backoffice to the floor Temporal sets on this machine? Every figure is a ratio
against baselines measured in the same run, interleaved: **F0** runs the same shape as each
process (the same activities, waits for people, timers and child runs, with the same payload
sizes, read from a real run's history) with activities that do nothing; **F1** adds one trivial
HTTP call per activity to the sandbox's echo endpoint; **A** is the application: the three
processes on their happy paths, with the benchmark playing the approvers (update `decide`), the
sales reps, signers and payers (in the sandbox systems, whose signed webhooks reach the runs
through the API). All three run on the same Temporal dev server, with workers built by the same
code (`workers/build.py`) and settings, and the same data converter (pydantic, AES-GCM with data
keys from Vault transit).

The reconciliation has a table of its own: a seeded day of 1,000, 10,000 and 100,000 invoices
(the CI-sized run stops at 1,000; `--reconciliation-days` measures others, and the table
shows the days that were) reconciled by the product's worker (**A**, invoices cycling
over 100 CRM deals), against a floor that pages the same volume through the same workflow with
invoices that name no deal (no CRM or billing call per invoice); invoices per second, CPU per
1,000 invoices of the worker, the Temporal server and the sandbox, the runs of the chain, the
longest history and the worker's peak memory.

Subscriptions have one too: many left waiting for a first period weeks away (the worker's and
the server's memory and CPU before and while they wait, per 1,000), and backlogs of first
periods, each billed by an invoice run that the payers pay, against the floor of the same shape
(a run whose child walks the invoice's shape).

## The last full run

{markdown(report)}

{findings}

## How to reproduce

```bash
bash scripts/setup.sh
# the full run (about an hour on 2 cores, most of it the 10,000 parked runs); writes this page
{COMMAND}
# the pages again from that run's figures, measuring nothing (after bench/findings.md changed)
{COMMAND} --render .data/bench/bench.json
# the CI-sized run (a few minutes), to check the harness
{COMMAND} --small
# one reconciled day alone, on a stack of its own (figures as JSON)
.venv/bin/python -m bench.reconcile_alone 100000 --floor
# the subscriptions' figure alone, 10,000 waiting (figures as JSON)
.venv/bin/python -m bench.subscriptions_alone 10000
```

Each run starts its own stack in a temporary directory on free ports and stops it at the end;
`--out DIR` keeps `bench.json` and `bench.md` there (default `.data/bench/`). Absolute numbers
depend on the machine and on what else runs on it (see the load average above); the ratios are
what to compare.
"""


def write(report: dict[str, Any], out_dir: Path, docs: Path | None) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out_dir / "bench.md").write_text(markdown(report) + "\n")
    if docs is not None:
        docs.parent.mkdir(parents=True, exist_ok=True)
        docs.write_text(performance_page(report))
