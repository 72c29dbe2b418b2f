"""The suite's figures: a table for the terminal and `docs/reliability.md`, with the plan, the
counts, the figures, the invariants and when and on which commit they were measured."""

import os
import platform
import subprocess
from pathlib import Path

from chaos.invariants import INVARIANTS
from chaos.session import PlanResult, SessionReport
from devstack.paths import project_root


def commit() -> str:
    """The commit measured on, marked when the working tree had uncommitted changes."""
    root = project_root()
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=root, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"{head} (with uncommitted changes)" if dirty else head


def machine() -> str:
    python = platform.python_version()
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {python}"


def _figures(result: PlanResult) -> str:
    return "; ".join(f"{name} {value}" for name, value in result.figures.items())


def table(report: SessionReport) -> str:
    """The terminal table: one line per plan."""
    rows = [("PLAN", "RUNS AS EXPECTED", "INVARIANTS", "SECONDS", "FIGURES")]
    for r in report.results:
        held = "held" if r.held else f"{len(r.violations)} violated"
        rows.append((r.plan, f"{r.as_expected}/{r.started}", held, f"{r.seconds:.0f}", _figures(r)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True))
        + "  "
        + row[4]
        for row in rows
    ]
    verdict = "every invariant held" if report.held else "INVARIANTS VIOLATED"
    lines.append(f"{verdict}; {report.seconds:.0f} s in all")
    return "\n".join(lines)


def markdown(report: SessionReport, command: str) -> str:
    """`docs/reliability.md`: written by `backoffice chaos`, never by hand."""
    options = report.options
    out = [
        "# Reliability: the fault suite's figures",
        "",
        "<!-- Written by `backoffice chaos`; do not edit by hand: run the command again. -->",
        "",
        f"- Measured: {report.started_at:%Y-%m-%d %H:%M} UTC, on commit {commit()}",
        f"- Command: `{command}`",
        f"- Machine: {machine()}",
        f"- Plans: {', '.join(options.plans)}; {options.runs} round(s) of the workload per plan; "
        f"soak {options.duration_seconds / 60:.1f} min; seed {options.seed}; "
        f"{report.seconds / 60:.1f} min in all",
        f"- Verdict: **{'every invariant held' if report.held else 'invariants violated'}**",
        "",
        "Invariants checked after every plan, against the sandbox ledger, the audit rows, the "
        "webhook inbox and each run's `status`:",
        "",
        *[f"- {invariant}" for invariant in INVARIANTS],
        "",
        "| plan | runs as expected | invariants | seconds |",
        "|---|---|---|---|",
    ]
    for r in report.results:
        held = "held" if r.held else f"**{len(r.violations)} violated**"
        out.append(f"| {r.plan} | {r.as_expected}/{r.started} | {held} | {r.seconds:.0f} |")
    for r in report.results:
        out += ["", f"## {r.plan}", "", r.title, "", "| figure | value |", "|---|---|"]
        out += [f"| {name} | {value} |" for name, value in r.figures.items()]
        if r.violations:
            out += ["", "Violations:", ""]
            out += [f"- {v.invariant}: {v.detail}" for v in r.violations]
    return "\n".join(out) + "\n"


def write(path: Path, report: SessionReport, command: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(report, command))
