"""`backoffice replay-check`: replay workflow histories against the workflow code at hand, with
the worker's own sandbox and data converter, before that code is deployed.

The histories come from the Temporal server the settings point at (running workflows and those
closed within `--since`, or the runs `--workflow-id` names) or from JSON files (`--histories`,
as `temporal workflow show --output json` writes them: CI replays `tests/histories/`). The first
history whose replay fails ends the check with exit status 1, naming the workflow and the event;
exit status 0 means every history replayed.
"""

import argparse
import asyncio
import re
import sys
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import TypeAdapter, ValidationError
from temporalio import workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer, WorkflowReplayResult

from backoffice.cli.parsing import NOT_RUNNING, CommandParser
from runtime.settings import SettingsError
from runtime.temporal import TemporalUnreachable, connect, data_converter
from runtime.vault import SecretUnavailable, VaultUnreachable
from workers.build import sandboxed_runner, worker_interceptors
from workers.registry import WORKFLOWS

DEFAULT_SINCE = "P1D"
# How the SDK's core names the event a replay tripped over, e.g. `HistoryEvent(id: 5, ...)`.
_EVENT = re.compile(r"HistoryEvent\(id: (\d+), (\w+)")
_MESSAGE = re.compile(r'message: "(.*?)(?<!\\)"')


class CheckRefused(Exception):
    """Bad options or a source that cannot be read: nothing was replayed (exit status 2)."""


class ReplayFailed(Exception):
    """A history did not replay (exit status 1); the message names the workflow and event."""


def workflow_types() -> list[str]:
    """The workflow types this code runs (histories of any other type are not ours to check)."""
    names = (workflow._Definition.must_from_class(cls).name for cls in WORKFLOWS)
    return sorted(name for name in names if name)


def visibility_query(since: timedelta, extra: str | None, now: datetime) -> str:
    """Running workflows of our types, and those closed within `since` of `now`."""
    types = ", ".join(f"'{name}'" for name in workflow_types())
    closed_after = (now - since).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    query = (
        f"WorkflowType IN ({types}) AND "
        f"(ExecutionStatus = 'Running' OR CloseTime > '{closed_after}')"
    )
    return f"{query} AND ({extra})" if extra else query


def describe_failure(result: WorkflowReplayResult) -> str:
    """What went wrong, where: workflow id, run id, event id and type, the core's message."""
    history, failure = result.history, result.replay_failure
    text = str(failure)
    where = "at an event the replay did not name"
    found = _EVENT.search(text)
    if found:
        where = f"at event {found[1]} ({found[2]})"
    message = _MESSAGE.search(text)
    kind = "non-determinism" if isinstance(failure, workflow.NondeterminismError) else "failure"
    return (
        f"{kind} in workflow {history.workflow_id} (run {history.run_id}) {where}: "
        f"{message[1] if message else text}"
    )


def _counted(results: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(results.items()))


def replayer(converter: DataConverter, workflows: Sequence[type] = WORKFLOWS) -> Replayer:
    """A replayer of every workflow the worker runs, in the worker's sandbox, with its
    interceptors."""
    return Replayer(
        workflows=workflows,
        workflow_runner=sandboxed_runner(),
        interceptors=worker_interceptors(),
        data_converter=converter,
        runtime=_quiet_runtime(),
    )


def _quiet_runtime() -> Runtime:
    """The SDK core logs each failed task as a warning; the check reports it once, itself."""
    logging = LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
    return Runtime(telemetry=TelemetryConfig(logging=logging))


async def replay(histories: AsyncIterator[WorkflowHistory], converter: DataConverter) -> str:
    """Replay every history; raise `ReplayFailed` at the first that fails, else say how many."""
    replayed: Counter[str] = Counter()
    async with replayer(converter).workflow_replay_iterator(histories) as results:
        async for result in results:
            if result.replay_failure is not None:
                raise ReplayFailed(describe_failure(result))
            started = result.history.events[0].workflow_execution_started_event_attributes
            replayed[started.workflow_type.name] += 1
    total = sum(replayed.values())
    detail = f" ({_counted(replayed)})" if replayed else ""
    return (
        f"{total} {'history' if total == 1 else 'histories'} replayed{detail}, no non-determinism"
    )


async def _files(paths: Sequence[Path]) -> AsyncIterator[WorkflowHistory]:
    for path in paths:
        yield WorkflowHistory.from_json(str(path), path.read_text())


async def _by_id(client: Client, workflow_ids: Sequence[str]) -> AsyncIterator[WorkflowHistory]:
    for workflow_id in workflow_ids:
        try:
            yield await client.get_workflow_handle(workflow_id).fetch_history()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise CheckRefused(f"--workflow-id {workflow_id}: no such workflow") from None
            raise


def _history_files(directory: str) -> list[Path]:
    path = Path(directory)
    if not path.is_dir():
        raise CheckRefused(f"--histories {directory}: not a directory")
    files = sorted(path.rglob("*.json"))
    if not files:
        raise CheckRefused(f"--histories {directory}: no *.json history files in it (or below)")
    return files


def _since(value: str) -> timedelta:
    try:
        since = TypeAdapter(timedelta).validate_python(value)
    except ValidationError:
        raise CheckRefused(f"--since {value}: not an ISO 8601 duration (e.g. P1D)") from None
    if since <= timedelta(0):
        raise CheckRefused(f"--since {value}: must be a positive duration")
    return since


async def check(args: argparse.Namespace) -> str:
    if args.histories is not None:
        if args.workflow_ids or args.query or args.since is not None:
            raise CheckRefused("--histories replays files only: drop the server options")
        return await replay(_files(_history_files(args.histories)), data_converter())
    since = _since(args.since or DEFAULT_SINCE)  # bad options fail before any connection
    if args.workflow_ids and (args.query or args.since is not None):
        raise CheckRefused("--workflow-id replays those runs only: drop --since and --query")
    client = await connect()
    if args.workflow_ids:
        histories = _by_id(client, args.workflow_ids)
    else:
        query = visibility_query(since, args.query, datetime.now(UTC))
        histories = client.list_workflows(query).map_histories()
    return await replay(histories, client.data_converter)


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="backoffice replay-check", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--histories",
        metavar="DIR",
        help="replay the *.json histories in DIR and below (no server)",
    )
    parser.add_argument(
        "--workflow-id",
        dest="workflow_ids",
        action="append",
        default=[],
        metavar="ID",
        help="replay this workflow's latest run (repeat for more)",
    )
    parser.add_argument(
        "--since",
        metavar="DURATION",
        help=f"closed workflows within this ISO 8601 duration, besides the running ones "
        f"(default {DEFAULT_SINCE})",
    )
    parser.add_argument("--query", help="a visibility filter, ANDed to the default one")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        print(f"replay-check: {asyncio.run(check(args))}")
    except ReplayFailed as exc:
        print(f"backoffice replay-check: {exc}", file=sys.stderr)
        return 1
    except (TemporalUnreachable, VaultUnreachable) as exc:
        print(f"backoffice replay-check: {exc}", file=sys.stderr)
        return NOT_RUNNING
    except (CheckRefused, SettingsError, SecretUnavailable) as exc:
        print(f"backoffice replay-check: {exc}", file=sys.stderr)
        return 2
    return 0
