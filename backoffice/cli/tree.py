"""The `backoffice` command tree: every command with its one-line purpose in `--help`,
`--version`, and the dispatch to the module that runs it."""

import argparse
import os
import sys
from collections.abc import Callable
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import NoReturn, cast

from backoffice.cli.parsing import EXIT_CODES, CommandParser

DESCRIPTION = (
    "Back-office processes as durable Temporal workflows: start them, decide their approvals, "
    "see where a run stands, and run the local stack, the API and the worker."
)


def _worker(argv: list[str]) -> int:
    from workers.main import main as worker_main

    parser = CommandParser(prog="backoffice worker", description=DELEGATED["worker"][0] + ".")
    parser.parse_args(argv)  # `--help`, and a usage error for any argument
    return worker_main()


# Commands with a parser of their own: the tree lists them and hands them the arguments after
# their name, as `module:function` (imported only when run: `backoffice --help` stays quick).
DELEGATED: dict[str, tuple[str, str]] = {
    "demo": (
        "bring the local stack up and run every process once, approvals included",
        "backoffice.demo:main",
    ),
    "dev": (
        "start, stop and check the local stack (Temporal, Vault, sandbox, API, worker)",
        "devstack.cli:main",
    ),
    "api": (
        "serve the HTTP API and the approval inbox, or print its OpenAPI document",
        "starters.api.server:main",
    ),
    "worker": ("run the worker: every task queue, until SIGTERM", "backoffice.cli.tree:_worker"),
    "replay-check": (
        "replay workflow histories against this code before it ships",
        "workers.replay_check:main",
    ),
    "chaos": (
        "run the fault suite on a stack of its own and write its report",
        "backoffice.cli.chaos:main",
    ),
    "bench": (
        "measure the application against Temporal's floor and write the report",
        "backoffice.cli.bench:main",
    ),
    "deploy": (
        "the steps of docker-compose.yml (Vault's init, the database's schema, the worker's "
        "health); the shape without containers (local up|down|status)",
        "backoffice.cli.deploy:main",
    ),
}


def _delegate(command: str, argv: list[str]) -> int:
    module, function = DELEGATED[command][1].split(":")
    run: Callable[[list[str]], int] = getattr(import_module(module), function)
    return run(argv)


def package_version() -> str:
    try:
        return version("backoffice")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def parser() -> CommandParser:
    """The whole tree: every command `backoffice --help` lists."""
    return _tree()[0]


def commands() -> dict[str, str]:
    """Every command of the tree and its one-line purpose, as `--help` lists them."""
    return {str(a.dest): str(a.help) for a in _tree()[1]._get_subactions()}


def _tree() -> "tuple[CommandParser, argparse._SubParsersAction[argparse.ArgumentParser]]":
    from backoffice.cli import operate

    root = CommandParser(prog="backoffice", description=DESCRIPTION, epilog=EXIT_CODES)
    root.add_argument("--version", action="version", version=f"backoffice {package_version()}")
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        root.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands"),
    )
    operate.add_parsers(sub)
    for name, (purpose, _) in DELEGATED.items():
        sub.add_parser(name, help=purpose, add_help=False)
    return root, sub


def main(argv: list[str] | None = None) -> int:
    code = _run(sys.argv[1:] if argv is None else argv)
    if argv is None:  # a process of its own: the console script or `python -m backoffice.cli`
        _exit_without_teardown(code)
    return code


def _run(args: list[str]) -> int:
    if args and args[0] in DELEGATED:
        try:
            return _delegate(args[0], args[1:])
        except SystemExit as exc:  # their parsers' --help (0) and usage errors (2)
            return exc.code if isinstance(exc.code, int) else 2
    from backoffice.cli import operate

    try:
        parsed = parser().parse_args(args)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    return operate.run(parsed)


def _exit_without_teardown(code: int) -> NoReturn:
    """Exit at once once any command is done. The Temporal client's Rust threads can outlive
    the event loop and abort the interpreter while it tears down (temporalio/sdk-python#300;
    seen from `deploy worker-health`, 2 runs in 40), which would turn a command that succeeded
    into a crash; nothing is left to clean up but the spans of the command (when traces are
    exported): a long-running command (worker, API) has shut its telemetry down already."""
    temporal = sys.modules.get("runtime.temporal")  # loaded when the command used Temporal
    if temporal is not None:
        temporal.flush_cli_telemetry()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    raise SystemExit(main())
