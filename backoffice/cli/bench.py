"""`backoffice bench [--small] [--out DIR] [--docs FILE | --no-docs] [--render JSON]`: run the
benchmark, print its table, write `bench.json` and `bench.md` (and, for the full run,
docs/performance.md); `--render` writes the pages again from a run's `bench.json` (after the
findings changed) without measuring."""

import argparse
import json
import sys
from pathlib import Path

from backoffice.cli.parsing import CommandParser
from bench.phases import BenchFailed
from bench.plan import FULL, SMALL
from bench.report import build, machine, markdown, write
from bench.run import run_bench
from bench.summary import summarize
from devstack.errors import StackError
from devstack.paths import project_root


def parser() -> argparse.ArgumentParser:
    p = CommandParser(
        prog="backoffice bench",
        description="Measure the application against the floor Temporal sets (F0, F1) on a "
        "stack of its own; print the table of ratios and write the report.",
    )
    p.add_argument("--small", action="store_true", help="the CI-sized run (a few minutes)")
    p.add_argument(
        "--server",
        choices=["dev", "prod"],
        default="dev",
        help="the Temporal dev server (default), or the production shape: temporal-server on "
        "PostgreSQL, OpenBao in server mode (`backoffice deploy local`)",
    )
    p.add_argument(
        "--workers",
        type=int,
        choices=[1, 2],
        default=1,
        help="worker processes, the product's and the floor's alike (default: 1)",
    )
    p.add_argument(
        "--reconciliation-days",
        type=_days,
        metavar="N[,N...]",
        help="the reconciled days' sizes in invoices, or `none` (default: the plan's; the full "
        "run's 100,000 alone takes most of an hour)",
    )
    p.add_argument("--out", type=Path, help="where bench.json and bench.md go (.data/bench)")
    docs = p.add_mutually_exclusive_group()
    docs.add_argument("--docs", type=Path, help="the performance page to write")
    docs.add_argument("--no-docs", action="store_true", help="write no performance page")
    p.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="measure nothing: write the pages again from this run's bench.json",
    )
    return p


def _days(text: str) -> tuple[int, ...]:
    if text.strip() == "none":
        return ()
    try:
        days = tuple(int(part) for part in text.split(","))
    except ValueError:
        days = ()
    if not days or any(n < 1 for n in days):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of invoice counts (each at least 1) or `none`"
        )
    return days


def _render(source: Path, out: Path, docs: Path | None) -> int:
    try:
        report = json.loads(source.read_text())
        text = markdown(report)
    except OSError as exc:
        print(f"backoffice bench: --render: cannot read {source}: {exc.strerror}", file=sys.stderr)
        return 2
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        problem = f"{source} is not a bench.json ({exc!r})"
        print(f"backoffice bench: --render: {problem}", file=sys.stderr)
        return 2
    if report.get("plan", {}).get("name") != "full":
        docs = None  # only a full run makes the performance page
    write(report, out, docs)
    print(text)
    return 0


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    plan = SMALL if args.small else FULL
    if args.reconciliation_days is not None:
        plan = plan.model_copy(update={"reconciliation_days": args.reconciliation_days})
    out = args.out or project_root() / ".data" / "bench"
    docs = None if args.no_docs or (args.small and args.docs is None) else args.docs
    default_run = args.server == "dev" and args.workers == 1
    if docs is None and not args.small and not args.no_docs and default_run:
        docs = project_root() / "docs" / "performance.md"
    if args.render is not None:
        return _render(args.render, out, docs)
    started = machine()
    try:
        measured = run_bench(
            plan,
            lambda line: print(line, file=sys.stderr, flush=True),
            server=args.server,
            replicas=args.workers,
        )
    except (BenchFailed, StackError) as exc:
        print(f"backoffice bench: {exc}", file=sys.stderr)
        return 1
    report = build(measured, plan, summarize(measured), started)
    write(report, out, docs)
    print(markdown(report))
    print(f"\nwritten: {out / 'bench.json'}, {out / 'bench.md'}" + (f", {docs}" if docs else ""))
    return 0
