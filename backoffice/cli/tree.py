"""Entry point of the `backoffice` console script."""

import argparse
import os
import sys
from typing import NoReturn


def main(argv: list[str] | None = None) -> int:
    code = _run(sys.argv[1:] if argv is None else argv)
    if argv is None:  # a process of its own: the console script or `python -m backoffice.cli`
        _exit_without_teardown(code)
    return code


def _run(args: list[str]) -> int:
    command = args[0] if args else ""
    if command == "dev":
        from devstack.cli import main as dev_main

        return dev_main(args[1:])
    if command == "demo":
        from backoffice.demo import main as demo_main

        return demo_main(args[1:])
    if command == "chaos":
        from backoffice.cli.chaos import main as chaos_main

        return chaos_main(args[1:])
    if command == "bench":
        from backoffice.cli.bench import main as bench_main

        return bench_main(args[1:])
    if command == "api":
        from starters.api.server import main as api_main

        return api_main(args[1:])
    if command == "worker":
        from workers.main import main as worker_main

        _without_options("worker", "Run the worker: every task queue, until SIGTERM.", args[1:])
        return worker_main()
    if command == "replay-check":
        from workers.replay_check import main as replay_check_main

        return replay_check_main(args[1:])
    if command == "deploy":
        from backoffice.cli.deploy import main as deploy_main

        return deploy_main(args[1:])
    from backoffice.cli.operate import main as starters_main

    return starters_main(args)


def _without_options(command: str, description: str, argv: list[str]) -> None:
    """`--help` for a command that takes no options (and an error for any other argument)."""
    argparse.ArgumentParser(prog=f"backoffice {command}", description=description).parse_args(argv)


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
