"""`backoffice schedules create|list|describe|pause|unpause|trigger|backfill|delete` and
`backoffice reconcile --day YYYY-MM-DD`: the daily reconciliation from the command line.

Input is checked before anything connects: a bad date or range exits with status 2 and names
it; an unknown schedule or a failed run exits with status 1.
"""

import argparse
import asyncio
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import WorkflowFailureError

from backoffice.cli.parsing import print_json
from domain.contract import RECONCILIATION_SCHEDULE_ID
from domain.reconciliation import ReconciliationResult, time_zone
from runtime.settings import Settings
from runtime.temporal import connect
from starters.reconciliation import parse_day, start_reconciliation
from starters.sandbox_actions import seed_invoices
from starters.schedule_views import ScheduleView
from starters.schedules import (
    CreateOutcome,
    backfill_schedule,
    create_schedule,
    delete_schedule,
    describe_schedule,
    list_schedules,
    parse_moment,
    pause_schedule,
    trigger_schedule,
    unpause_schedule,
)

# How long `reconcile --wait` waits for the run before it gives up waiting (the run goes on).
WAIT_LIMIT = timedelta(minutes=30)


class ReconciliationFailed(Exception):
    """The run ended in failure; the message says why."""


Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def add_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    schedules = sub.add_parser("schedules", help="the daily reconciliation schedule")
    actions = schedules.add_subparsers(dest="action", required=True)
    helps = {
        "create": "create it (or bring it to the current settings)",
        "list": "list every schedule",
        "describe": "show one schedule, its next and recent runs",
        "pause": "stop starting runs until unpaused",
        "unpause": "start runs again",
        "trigger": "start a run now (it covers the day before today)",
        "backfill": "start the runs of past days, one after another",
        "delete": "delete it (the runs it started are kept)",
    }
    for name, text in helps.items():
        action = actions.add_parser(name, help=text)
        if name != "list":
            action.add_argument(
                "--id",
                dest="schedule_id",
                default=RECONCILIATION_SCHEDULE_ID,
                help=f"default {RECONCILIATION_SCHEDULE_ID}",
            )
        if name in ("list", "describe"):
            action.add_argument(
                "--json", action="store_true", help="print one JSON document on stdout"
            )
        if name in ("pause", "unpause"):
            action.add_argument("--note", default=f"{name}d with `backoffice schedules {name}`")
    backfill = actions.choices["backfill"]
    for flag in ("--start", "--end"):
        backfill.add_argument(
            flag,
            required=True,
            help="a date YYYY-MM-DD (days to reconcile, both included) or a date-time "
            "YYYY-MM-DDTHH:MM (scheduled times, both included; no offset: the schedule's zone)",
        )
    reconcile = sub.add_parser("reconcile", help="reconcile one day now (a manual run)")
    reconcile.add_argument("--day", required=True, help="YYYY-MM-DD")
    reconcile.add_argument("--wait", action="store_true", help="wait and print what it did")
    seed = sub.add_parser(
        "seed-invoices", help="seed a day of issued invoices in the (sandbox) billing system"
    )
    seed.add_argument("--day", required=True, help="YYYY-MM-DD (in the reconciliation's zone)")
    seed.add_argument("--count", required=True, type=int, help="how many (up to 200000)")
    seed.add_argument("--prefix", default="SEED", help="invoice numbers <prefix>-000001 on")
    seed.add_argument("--deal", action="append", default=[], help="a CRM deal id (repeatable)")


async def schedules(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "backfill":  # bad dates fail before any connection
        start, end = parse_moment(args.start, "--start"), parse_moment(args.end, "--end")
    client = await connect()
    if args.action == "create":
        outcome, view = await create_schedule(client, settings, args.schedule_id)
        print(_created(outcome, view))
    elif args.action == "list":
        views = await list_schedules(client)
        if args.json:
            print_json(views)
        else:
            _list(views)
    elif args.action == "describe":
        view = await describe_schedule(client, args.schedule_id)
        if args.json:
            print_json(view)
        else:
            _describe(view)
    elif args.action in ("pause", "unpause"):
        change = pause_schedule if args.action == "pause" else unpause_schedule
        view = await change(client, args.schedule_id, args.note)
        if view.paused:
            print(f"schedule {view.schedule_id} paused: no runs start until it is unpaused")
        else:
            print(f"schedule {view.schedule_id} active; next run {_next(view)}")
    elif args.action == "trigger":
        day = await trigger_schedule(client, args.schedule_id)
        print(
            f"schedule {args.schedule_id} triggered: a run starts now and reconciles {day} "
            "(beside any run still going on: each day is its own run)"
        )
    elif args.action == "backfill":
        start_at, end_at, zone = await backfill_schedule(
            client, settings, args.schedule_id, start, end
        )
        covering = "" if isinstance(start, datetime) else f", reconciling {start} to {end}"
        print(
            f"schedule {args.schedule_id} backfilled: the runs scheduled from "
            f"{_at(start_at, zone)} to {_at(end_at, zone)} start one after another{covering}"
        )
    else:
        await delete_schedule(client, args.schedule_id)
        print(f"schedule {args.schedule_id} deleted (the runs it started are kept)")
    return 0


async def reconcile(args: argparse.Namespace, settings: Settings) -> int:
    day = parse_day(args.day)
    client = await connect()
    outcome = await start_reconciliation(client, settings, day)
    verb = "already running" if outcome.already_existed else "started"
    print(f"{outcome.workflow_id} {verb} (run {outcome.run_id})")
    print(f"Web UI: {outcome.web_ui_url}")
    if not args.wait:
        print(f"follow it with: backoffice status {outcome.workflow_id}")
        return 0
    handle = client.get_workflow_handle(
        outcome.workflow_id, run_id=outcome.run_id or None, result_type=ReconciliationResult
    )
    try:
        result = await asyncio.wait_for(handle.result(), WAIT_LIMIT.total_seconds())
    except WorkflowFailureError as exc:
        raise ReconciliationFailed(f"{outcome.workflow_id} failed: {exc.cause}") from None
    _summary(result)
    return 0


async def seed_invoices_command(args: argparse.Namespace, settings: Settings) -> int:
    day = parse_day(args.day)
    seeded = seed_invoices(settings, day, args.count, args.prefix, args.deal)
    print(
        f"{seeded['count']} invoices issued on {day} in billing "
        f"({seeded['first_id']} to {seeded['last_id']})"
    )
    return 0


COMMANDS: dict[str, Command] = {
    "schedules": schedules,
    "reconcile": reconcile,
    "seed-invoices": seed_invoices_command,
}


def _created(outcome: CreateOutcome, view: ScheduleView) -> str:
    what = f"{view.workflow} {view.when}, each run reconciling the day before"
    if outcome == CreateOutcome.CREATED:
        return f"schedule {view.schedule_id} created: {what}; next run {_next(view)}"
    if outcome == CreateOutcome.UNCHANGED:
        return f"schedule {view.schedule_id} already exists and matches the settings: unchanged"
    state = "paused" if view.paused else "active"
    return (
        f"schedule {view.schedule_id} already existed: updated to the current settings "
        f"({what}); still {state}"
    )


def _list(views: list[ScheduleView]) -> None:
    if not views:
        print("no schedules (create the reconciliation's with `backoffice schedules create`)")
        return
    rows = [("SCHEDULE", "STATE", "RUNS", "WHEN", "NEXT RUN")]
    for v in views:
        state = "paused" if v.paused else "active"
        rows.append((v.schedule_id, state, v.workflow, v.when, _next(v)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _describe(view: ScheduleView) -> None:
    state = "paused" if view.paused else "active"
    print(f"schedule {view.schedule_id}: {state}" + (f" ({view.note})" if view.note else ""))
    print(f"  starts {view.workflow} on task queue {view.task_queue}, {view.when}")
    print(f"  overlapping runs: {view.overlap}; catch-up window: {_duration(view.catchup_window)}")
    print(f"  next runs: {', '.join(_at(t, view.time_zone) for t in view.next_runs[:3]) or '-'}")
    for run in view.running:
        print(f"  running: {run}")
    for recent in view.recent_runs[-5:]:
        print(f"  ran: {recent.workflow_id} (scheduled {_at(recent.scheduled_at, view.time_zone)})")
    print(
        f"  runs started: {view.actions_taken}; missed (outside the catch-up window): "
        f"{view.missed_catchup_window}; skipped (overlap): {view.skipped_overlap}"
    )


def _summary(result: ReconciliationResult) -> None:
    fixed = len(result.fixed) if result.fixed_total is None else result.fixed_total
    unresolved = (
        len(result.unresolved) if result.unresolved_total is None else result.unresolved_total
    )
    print(
        f"{result.day} ({result.time_zone}): {result.invoices} invoices issued; "
        f"{fixed} CRM deals fixed, {result.in_sync} in sync, {unresolved} unresolved"
    )
    for fix in result.fixed:
        was = fix.was_invoice_status or "nothing"
        print(
            f"  fixed: deal {fix.deal_id} -> invoice {fix.invoice_number} "
            f"{fix.invoice_status} (was {was})"
        )
    for item in result.unresolved:
        print(f"  unresolved: invoice {item.invoice_number}: {item.code} ({item.reason})")
    if unresolved > len(result.unresolved) or fixed > len(result.fixed):
        print(f"  (the first {len(result.fixed)} fixes and {len(result.unresolved)} unresolved)")
    written = "written" if result.export.changed else "unchanged"
    print(f"  export: {result.export.path} ({result.export.rows} invoices, {written})")
    if result.export.unresolved_path:
        print(f"  every unresolved invoice: {result.export.unresolved_path}")


def _next(view: ScheduleView) -> str:
    if view.paused:
        return "- (paused)"
    return _at(view.next_runs[0], view.time_zone) if view.next_runs else "-"


def _at(moment: datetime, zone: str) -> str:
    return moment.astimezone(time_zone(zone)).strftime("%Y-%m-%d %H:%M %Z")


def _duration(value: timedelta | None) -> str:
    if value is None:
        return "Temporal's default"
    days, rest = value.days, value - timedelta(days=value.days)
    parts: Sequence[str] = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    return ", ".join([*parts, str(rest)] if rest else parts) or "0"
