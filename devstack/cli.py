"""`backoffice dev up|down|status|restart|logs|web-ui`: the local stack from the command line."""

import argparse
import os
import sys
import time
from pathlib import Path
from typing import BinaryIO

from devstack.config import StackConfig
from devstack.errors import StackError, StackNotRunning
from devstack.stack import COMPONENTS, Stack

EXIT_ERROR = 1
EXIT_NOT_RUNNING = 3
FOLLOW_POLL_SECONDS = 0.5
TAIL_BYTES = 256 * 1024  # enough for the last lines asked for


def _say(message: str) -> None:
    print(message, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backoffice dev",
        description="Start, inspect and stop the local stack: Temporal dev server with its "
        "Web UI, OpenBao, the sandbox systems, the HTTP API and the worker, all on loopback.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("BACKOFFICE_DATA_DIR", ".data")),
        help="where state, databases and logs live (default: $BACKOFFICE_DATA_DIR or ./.data)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser("up", parents=[common], help="start everything in the background")
    defaults = StackConfig()
    for flag, field in (
        ("--temporal-port", "temporal_port"),
        ("--temporal-ui-port", "temporal_ui_port"),
        ("--temporal-http-port", "temporal_http_port"),
        ("--temporal-metrics-port", "temporal_metrics_port"),
        ("--vault-port", "vault_port"),
        ("--sandbox-port", "sandbox_port"),
        ("--api-port", "api_port"),
        ("--worker-metrics-port", "worker_metrics_port"),
        ("--api-metrics-port", "api_metrics_port"),
        ("--smtp-port", "smtp_port"),
        ("--mailpit-ui-port", "mailpit_ui_port"),
    ):
        up.add_argument(
            flag,
            dest=field,
            type=int,
            default=getattr(defaults, field),
            help=f"(default {getattr(defaults, field)}; 0 picks a free port)",
        )
    up.add_argument("--no-worker", action="store_true", help="do not start the worker")
    up.add_argument(
        "--vault-storage",
        choices=("dev", "file"),
        default=defaults.vault_storage,
        help="OpenBao in dev mode (in memory, seeded again with the same credentials at every "
        "start) or in server mode on file "
        "storage in the data dir, which keeps its secrets across restarts (default: dev)",
    )
    up.add_argument("--ui-codec-endpoint", help="codec server URL for the Temporal Web UI")
    up.add_argument(
        "--otlp-endpoint",
        default=os.environ.get("BACKOFFICE_OTLP_ENDPOINT") or None,
        help="OTLP/HTTP collector the API, worker and CLI send traces to, e.g. "
        "http://127.0.0.1:4318 (default: $BACKOFFICE_OTLP_ENDPOINT; unset: no traces)",
    )
    commands.add_parser("down", parents=[common], help="stop everything")
    commands.add_parser("status", parents=[common], help="show what runs (exit 3 if not all)")
    restart = commands.add_parser(
        "restart",
        parents=[common],
        help="stop one component and start it again (same ports, same credentials)",
    )
    restart.add_argument("component", choices=COMPONENTS, help=" | ".join(COMPONENTS))
    logs = commands.add_parser("logs", parents=[common], help="print one component's log")
    logs.add_argument("component", choices=COMPONENTS, help=" | ".join(COMPONENTS))
    logs.add_argument(
        "-n", "--lines", type=_line_count, default=20, help="last lines to print (default 20)"
    )
    logs.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new lines (Ctrl-C stops)"
    )
    web_ui = commands.add_parser(
        "web-ui",
        parents=[common],
        help="print a one-time link that signs your browser in to the codec server and opens "
        "the Temporal Web UI (decoded inputs, results and failures)",
    )
    web_ui.add_argument("--workflow-id", help="open this run (default: the list of runs)")
    return parser


def _line_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number of lines, 0 or more: {text!r}")
    return value


def _config(args: argparse.Namespace) -> StackConfig:
    if args.command != "up":
        return StackConfig(data_dir=args.data_dir)
    return StackConfig(
        data_dir=args.data_dir,
        temporal_port=args.temporal_port,
        temporal_ui_port=args.temporal_ui_port,
        temporal_http_port=args.temporal_http_port,
        temporal_metrics_port=args.temporal_metrics_port,
        vault_port=args.vault_port,
        sandbox_port=args.sandbox_port,
        api_port=args.api_port,
        worker_metrics_port=args.worker_metrics_port,
        api_metrics_port=args.api_metrics_port,
        smtp_port=args.smtp_port,
        mailpit_ui_port=args.mailpit_ui_port,
        with_worker=not args.no_worker,
        vault_storage=args.vault_storage,
        ui_codec_endpoint=args.ui_codec_endpoint,
        # Written to the env file, so the API, the worker and the CLI all export to it.
        extra_env={"BACKOFFICE_OTLP_ENDPOINT": args.otlp_endpoint} if args.otlp_endpoint else {},
    )


def _stop_hint(stack: Stack) -> str:
    default = StackConfig().data_dir
    return "backoffice dev down" + (
        "" if stack.data_dir == default else f" --data-dir {stack.data_dir}"
    )


def _up(stack: Stack, args: argparse.Namespace) -> int:
    where = stack.up()
    report = stack.last_up
    worker = stack.status()["worker"]
    if worker["running"]:
        worker_line = f"running, pid {worker['pid']}"
    else:
        worker_line = "not started (--no-worker)"
    print(
        f"\nThe backoffice dev stack is up (data in {stack.data_dir}).\n"
        f"kept: {', '.join(report.kept) or 'nothing'}; "
        f"started: {', '.join(report.started) or 'nothing'}\n\n"
        f"  Temporal         {where.temporal}\n"
        f"  Temporal Web UI  {where.temporal_ui}  (decoded: sign in with `backoffice dev web-ui`)\n"
        f"  Vault (OpenBao)  {where.vault}\n"
        f"  Sandbox          {where.sandbox}\n"
        f"  Mailpit          {where.mailpit}  (SMTP {where.smtp}: every email sent)\n"
        f"  API              {where.api}  (OpenAPI: {where.api}/openapi.json)\n"
        f"  Worker           {worker_line}\n"
        f"  Metrics          API {where.api_metrics or '-'}, worker {where.worker_metrics or '-'}\n"
        f"  Traces           {_traces_line(stack)}\n\n"
        f"Settings for local clients: {where.env_file}\n"
        f"API credentials (demo):     {stack.credentials_file}\n"
        f"Logs: {stack.log_dir}\n"
        f"Stop it with: {_stop_hint(stack)}"
    )
    return 0


def _traces_line(stack: Stack) -> str:
    endpoint = stack.config.extra_env.get("BACKOFFICE_OTLP_ENDPOINT")
    if endpoint:
        return f"exported over OTLP to {endpoint}"
    return "off (set BACKOFFICE_OTLP_ENDPOINT or --otlp-endpoint to export them)"


def _down(stack: Stack, args: argparse.Namespace) -> int:
    stopped = stack.down()
    if stopped:
        print(f"Stopped {', '.join(stopped)} (data kept in {stack.data_dir}).")
    else:
        print(f"Nothing was running for {stack.data_dir}.")
    return 0


def _status(stack: Stack, args: argparse.Namespace) -> int:
    rows = stack.status()
    print(f"{'component':<14} {'pid':>8}  {'address':<32} state")
    all_up = True
    for name, row in rows.items():
        if row["running"]:
            state = "running"
        elif row["enabled"]:
            state, all_up = "stopped", False
        else:
            state = "disabled"
        pid = str(row["pid"]) if row["pid"] is not None else "-"
        print(f"{name:<14} {pid:>8}  {row['address'] or '-':<32} {state}")
    return 0 if all_up else EXIT_NOT_RUNNING


def _restart(stack: Stack, args: argparse.Namespace) -> int:
    stack.restart(args.component)
    pid = stack.status()[args.component]["pid"]
    print(f"Restarted {args.component} (pid {pid}); the other components kept running.")
    return 0


def _logs(stack: Stack, args: argparse.Namespace) -> int:
    path = stack.log_path(args.component)
    try:
        log = path.open("rb")
    except FileNotFoundError:
        print(f"backoffice dev logs: no log of {args.component} yet ({path})", file=sys.stderr)
        return EXIT_NOT_RUNNING
    with log:
        end = log.seek(0, os.SEEK_END)
        log.seek(max(0, end - TAIL_BYTES))
        before = log.read(end - log.tell()).decode("utf-8", "replace").splitlines()
        if args.lines:
            print("\n".join(before[-args.lines :]), flush=True)
        if args.follow:
            _follow(log)  # from where the tail ended: nothing appended since is missed
    return 0


def _follow(log: BinaryIO) -> None:
    """Print what is appended to the log until Ctrl-C (a restart appends to the same file)."""
    try:
        while True:
            chunk = log.read()
            if chunk:
                sys.stdout.write(chunk.decode("utf-8", "replace"))
                sys.stdout.flush()
            else:
                time.sleep(FOLLOW_POLL_SECONDS)
    except KeyboardInterrupt:
        pass


def _web_ui(stack: Stack, workflow_id: str | None) -> int:
    if not stack.is_running():
        print(f"The dev stack in {stack.data_dir} is not running: run `backoffice dev up`.")
        return EXIT_NOT_RUNNING
    print(
        f"Open this link once in your browser (it works once, for 30 minutes):\n"
        f"{stack.web_ui_sign_in_url(workflow_id)}"
    )
    return 0


def main(argv: list[str]) -> int:
    """Run one `backoffice dev` command; returns the exit code (2: a usage error, from
    argparse, e.g. an unknown component; 3: the stack is not running)."""
    args = _parser().parse_args(argv)
    try:
        stack = Stack(_config(args), say=_say)
        if args.command == "web-ui":
            return _web_ui(stack, args.workflow_id)
        command = {
            "up": _up,
            "down": _down,
            "status": _status,
            "restart": _restart,
            "logs": _logs,
        }[args.command]
        return command(stack, args)
    except StackNotRunning as exc:
        print(f"backoffice dev {args.command}: {exc}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    except StackError as exc:
        print(f"backoffice dev {args.command}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ValueError as exc:  # a bad setting (pydantic's ValidationError is a ValueError)
        print(f"backoffice dev {args.command}: {exc}", file=sys.stderr)
        return EXIT_ERROR
