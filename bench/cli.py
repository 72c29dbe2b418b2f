"""`backoffice bench [--small] [--out DIR] [--docs FILE | --no-docs]`: run the benchmark, print
its table, write `bench.json` and `bench.md` (and, for the full run, docs/performance.md)."""

import argparse
import sys
from pathlib import Path

from bench.phases import BenchFailed
from bench.plan import FULL, SMALL
from bench.report import build, machine, markdown, write
from bench.run import run_bench
from bench.summary import summarize
from devstack.errors import StackError
from devstack.paths import project_root


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="backoffice bench",
        description="Measure the application against the floor Temporal sets (F0, F1) on a "
        "stack of its own; print the table of ratios and write the report.",
    )
    p.add_argument("--small", action="store_true", help="the CI-sized run (a few minutes)")
    p.add_argument("--out", type=Path, help="where bench.json and bench.md go (.data/bench)")
    docs = p.add_mutually_exclusive_group()
    docs.add_argument("--docs", type=Path, help="the performance page to write")
    docs.add_argument("--no-docs", action="store_true", help="write no performance page")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    plan = SMALL if args.small else FULL
    out = args.out or project_root() / ".data" / "bench"
    docs = None if args.no_docs or (args.small and args.docs is None) else args.docs
    if docs is None and not args.small and not args.no_docs:
        docs = project_root() / "docs" / "performance.md"
    started = machine()
    try:
        measured = run_bench(plan, lambda line: print(line, file=sys.stderr, flush=True))
    except (BenchFailed, StackError) as exc:
        print(f"backoffice bench: {exc}", file=sys.stderr)
        return 1
    report = build(measured, plan, summarize(measured), started)
    write(report, out, docs)
    print(markdown(report))
    print(f"\nwritten: {out / 'bench.json'}, {out / 'bench.md'}" + (f", {docs}" if docs else ""))
    return 0
