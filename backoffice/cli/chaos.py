"""`backoffice chaos`: run the fault suite on a stack of its own, print the figures, and write
`docs/reliability.md` (or another file, or none)."""

import argparse
import random
import re
import shlex
import sys
import time
from pathlib import Path

from backoffice.cli.parsing import CommandParser
from chaos import report
from chaos.plans import BY_NAME, PLANS
from chaos.session import SessionOptions, run_session
from devstack.errors import StackError
from devstack.paths import project_root

SHORT_SOAK_SECONDS = 120.0
LONG_SOAK_SECONDS = 600.0
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$")


def parse_duration(text: str) -> float:
    """`10m`, `90s`, `1m30s`, `2h` or plain seconds."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise argparse.ArgumentTypeError(
            f"--duration {text!r}: a duration such as 10m, 90s or 1m30s"
        )
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total < 10:
        raise argparse.ArgumentTypeError(f"--duration {text!r}: at least 10 s")
    return float(total)


def _parser() -> argparse.ArgumentParser:
    names = ", ".join(plan.name for plan in PLANS)
    parser = CommandParser(
        prog="backoffice chaos",
        description=__doc__,
        epilog=f"Plans: {names}. `all`: every plan; `short`: every plan in its CI form.",
    )
    parser.add_argument(
        "--plan",
        default="short",
        help="a plan name, several separated by commas, `all` or `short` (default: short)",
    )
    parser.add_argument(
        "--duration",
        type=parse_duration,
        help="how long the soak runs (default: 2m for short, 10m otherwise)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=None,
        help="rounds of the mixed workload in each plan (default: 1 for short, 2 otherwise)",
    )
    parser.add_argument(
        "--short", action="store_true", help="the chosen plans in their CI form (fewer runs)"
    )
    parser.add_argument("--seed", type=int, help="seed of the random choices (default: random)")
    parser.add_argument(
        "--report",
        type=Path,
        default=project_root() / "docs" / "reliability.md",
        help="where to write the markdown report (default: docs/reliability.md)",
    )
    parser.add_argument("--no-report", action="store_true", help="write no markdown report")
    parser.add_argument("--json", type=Path, help="also write every figure and run as JSON")
    parser.add_argument("--data-dir", type=Path, help="where the suite's temp stack lives")
    parser.add_argument(
        "--keep", action="store_true", help="keep the stack's data dir (logs) afterwards"
    )
    return parser


def _say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')}  {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    short = args.plan == "short" or args.short
    if args.plan in ("short", "all"):
        chosen = list(PLANS)
    else:
        wanted = [name.strip() for name in args.plan.split(",") if name.strip()]
        unknown = [name for name in wanted if name not in BY_NAME]
        if unknown or not wanted:
            parser.error(
                f"--plan: unknown plan {', '.join(unknown) or repr(args.plan)}; choose from "
                f"{', '.join(BY_NAME)}, all or short"
            )
        chosen = [BY_NAME[name] for name in wanted]
    if args.runs is not None and args.runs < 1:
        parser.error("--runs: at least 1")
    if args.data_dir is not None and not args.data_dir.is_dir():
        parser.error(f"--data-dir: {args.data_dir} is not a directory")
    options = SessionOptions(
        plans=[plan.name for plan in chosen],
        runs=args.runs or (1 if short else 2),
        duration_seconds=args.duration or (SHORT_SOAK_SECONDS if short else LONG_SOAK_SECONDS),
        short=short,
        seed=args.seed if args.seed is not None else random.SystemRandom().randrange(10**6),
    )
    command = "backoffice chaos " + " ".join(shlex.quote(a) for a in (argv or sys.argv[2:]))
    try:
        result = run_session(
            [plan() for plan in chosen], options, _say, data_dir=args.data_dir, keep=args.keep
        )
    except StackError as exc:
        print(f"backoffice chaos: the suite's stack did not start: {exc}", file=sys.stderr)
        return 2
    print()
    print(report.table(result))
    if not args.no_report:
        report.write(args.report, result, command.strip())
        print(f"report: {args.report}")
    if args.json:
        args.json.write_text(result.model_dump_json(indent=2))
        print(f"figures and runs: {args.json}")
    return 0 if result.held else 1
