"""The daily reconciliation as a Temporal schedule, and manual reconciliation runs.

`reconciliation-daily` starts `Reconciliation` on `backoffice` every day at
BACKOFFICE_RECONCILIATION_AT in BACKOFFICE_RECONCILIATION_TIME_ZONE; each run covers the day
before (see `domain.reconciliation`). Overlapping runs are skipped; after an outage the schedule
catches up on runs missed within BACKOFFICE_RECONCILIATION_CATCHUP_WINDOW. Creating it again is
idempotent: an existing schedule that matches the settings is left as it is, one that does not
is updated to them (its paused state and note are kept).
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowExecutionStatus,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from domain.reconciliation import (
    PROCESS,
    SCHEDULE_ID,
    ReconciliationInput,
    ReconciliationPolicy,
    day_covered,
    reconciliation_id,
    time_zone,
)
from domain.systems import WORKFLOW_TASK_QUEUE
from runtime.settings import Settings
from starters.start import StartOutcome, web_ui_url

# A backfill longer than this is more likely a typo than a plan.
MAX_BACKFILL = timedelta(days=366)


class ScheduleProblem(ValueError):
    """Bad input (a date, a range); nothing was created or changed."""


class ScheduleNotFound(LookupError):
    """No schedule with that id."""


class CreateOutcome(StrEnum):
    CREATED = "created"
    UNCHANGED = "unchanged"
    UPDATED = "updated"


class RecentRun(BaseModel):
    workflow_id: str
    scheduled_at: datetime
    started_at: datetime


class ScheduleView(BaseModel):
    """What a person needs to know about a schedule, without the Web UI."""

    schedule_id: str
    workflow: str
    task_queue: str | None = None
    when: str
    time_zone: str
    paused: bool
    note: str | None = None
    overlap: str | None = None
    catchup_window: timedelta | None = None
    next_runs: list[datetime] = []
    recent_runs: list[RecentRun] = []
    running: list[str] = []
    actions_taken: int | None = None
    missed_catchup_window: int | None = None
    skipped_overlap: int | None = None


def reconciliation_policy(settings: Settings) -> ReconciliationPolicy:
    return ReconciliationPolicy(
        time_zone=settings.reconciliation_time_zone,
        give_up_after=settings.reconciliation_give_up_after,
    )


def reconciliation_schedule(settings: Settings, schedule_id: str = SCHEDULE_ID) -> Schedule:
    at = settings.reconciliation_at
    return Schedule(
        # Temporal appends the scheduled time: runs are `<schedule id>-<timestamp>`.
        action=ScheduleActionStartWorkflow(
            PROCESS,
            ReconciliationInput(policy=reconciliation_policy(settings)),
            id=schedule_id,
            task_queue=WORKFLOW_TASK_QUEUE,
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    second=[ScheduleRange(at.second)],
                    minute=[ScheduleRange(at.minute)],
                    hour=[ScheduleRange(at.hour)],
                    comment="daily reconciliation of the day before",
                )
            ],
            time_zone_name=settings.reconciliation_time_zone,
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP,
            catchup_window=settings.reconciliation_catchup_window,
        ),
        state=ScheduleState(note="created by `backoffice schedules create`"),
    )


async def create_schedule(
    client: Client, settings: Settings, schedule_id: str = SCHEDULE_ID
) -> tuple[CreateOutcome, ScheduleView]:
    """Create the schedule; if it exists, bring it to the current settings (or leave it)."""
    desired = reconciliation_schedule(settings, schedule_id)
    handle = client.get_schedule_handle(schedule_id)
    try:
        await client.create_schedule(schedule_id, desired)
        outcome = CreateOutcome.CREATED
    except ScheduleAlreadyRunningError:
        current = await handle.describe()
        if await _fingerprint(client, current.schedule) == await _fingerprint(client, desired):
            outcome = CreateOutcome.UNCHANGED
        else:

            def keep_state(update: ScheduleUpdateInput) -> ScheduleUpdate:
                desired.state = update.description.schedule.state
                return ScheduleUpdate(schedule=desired)

            await handle.update(keep_state)
            outcome = CreateOutcome.UPDATED
    return outcome, await describe_schedule(client, schedule_id)


async def describe_schedule(client: Client, schedule_id: str) -> ScheduleView:
    return _view(schedule_id, await _describe(client.get_schedule_handle(schedule_id)))


async def list_schedules(client: Client) -> list[ScheduleView]:
    views = []
    async for listed in await client.list_schedules():
        if listed.schedule is None:
            continue
        action = listed.schedule.action
        views.append(
            ScheduleView(
                schedule_id=listed.id,
                workflow=getattr(action, "workflow", type(action).__name__),
                when=describe_spec(listed.schedule.spec),
                time_zone=listed.schedule.spec.time_zone_name or "UTC",
                paused=listed.schedule.state.paused,
                note=listed.schedule.state.note,
                next_runs=list(listed.info.next_action_times[:1]) if listed.info else [],
            )
        )
    return sorted(views, key=lambda v: v.schedule_id)


async def pause_schedule(client: Client, schedule_id: str, note: str) -> ScheduleView:
    handle = client.get_schedule_handle(schedule_id)
    await _describe(handle)  # a clear "no schedule" before anything else
    await handle.pause(note=note)
    return await describe_schedule(client, schedule_id)


async def unpause_schedule(client: Client, schedule_id: str, note: str) -> ScheduleView:
    handle = client.get_schedule_handle(schedule_id)
    await _describe(handle)
    await handle.unpause(note=note)
    return await describe_schedule(client, schedule_id)


async def trigger_schedule(client: Client, schedule_id: str) -> date:
    """Start a run now (skipped if one still runs); returns the day it covers."""
    handle = client.get_schedule_handle(schedule_id)
    description = await _describe(handle)
    await handle.trigger()
    return day_covered(datetime.now(UTC), description.schedule.spec.time_zone_name or "UTC")


async def delete_schedule(client: Client, schedule_id: str) -> None:
    handle = client.get_schedule_handle(schedule_id)
    await _describe(handle)
    await handle.delete()


def parse_moment(text: str, option: str) -> date | datetime:
    """A date (YYYY-MM-DD) or a date-time (YYYY-MM-DDTHH:MM[:SS][offset])."""
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise ScheduleProblem(
            f"{option} {text!r} is neither a date (YYYY-MM-DD) nor a date-time "
            f"(YYYY-MM-DDTHH:MM): {exc}"
        ) from None


def backfill_window(
    start: date | datetime, end: date | datetime, zone: str
) -> tuple[datetime, datetime]:
    """Two dates: the days to reconcile, both included, so the window holds the runs scheduled
    on the day after each. Two date-times: scheduled times (no offset: in `zone`)."""
    tz = time_zone(zone)
    if isinstance(start, datetime) and isinstance(end, datetime):
        window = (start.replace(tzinfo=start.tzinfo or tz), end.replace(tzinfo=end.tzinfo or tz))
    elif not isinstance(start, datetime) and not isinstance(end, datetime):
        # From the day after `start` (the run covering `start`) to the end of the day after `end`.
        window = (
            datetime.combine(start + timedelta(days=1), time(), tz),
            datetime.combine(end + timedelta(days=2), time(), tz) - timedelta(seconds=1),
        )
    else:
        raise ScheduleProblem(
            "--start and --end must both be dates (the days to reconcile) or both date-times "
            "(scheduled times)"
        )
    if window[1] <= window[0]:
        raise ScheduleProblem(f"--end ({end}) must come after --start ({start})")
    if window[1] - window[0] > MAX_BACKFILL:
        raise ScheduleProblem(f"a backfill covers at most {MAX_BACKFILL.days} days")
    return window


async def backfill_schedule(
    client: Client, schedule_id: str, start: date | datetime, end: date | datetime
) -> tuple[datetime, datetime, str]:
    """Runs for every scheduled time in the window, one after another; returns the window."""
    handle = client.get_schedule_handle(schedule_id)
    zone = (await _describe(handle)).schedule.spec.time_zone_name or "UTC"
    start_at, end_at = backfill_window(start, end, zone)
    # Temporal's window leaves out its start: a second earlier keeps a run scheduled right at it.
    # Buffered, not skipped: the backfilled runs all happen, one after another.
    await handle.backfill(
        ScheduleBackfill(start_at - timedelta(seconds=1), end_at, ScheduleOverlapPolicy.BUFFER_ALL)
    )
    return start_at, end_at, zone


async def start_reconciliation(client: Client, settings: Settings, day: date) -> StartOutcome:
    """A manual run of one day. While a run of that day goes on, it is handed back; once it
    has finished, the day can be run again (the run is idempotent)."""
    today = datetime.now(time_zone(settings.reconciliation_time_zone)).date()
    if day > today:
        raise ScheduleProblem(
            f"--day {day} is in the future (today is {today} in "
            f"{settings.reconciliation_time_zone}): nothing to reconcile yet"
        )
    workflow_id = reconciliation_id(day)
    run_id = await _running_run(client, workflow_id)
    already_running = run_id is not None
    if run_id is None:
        handle = await client.start_workflow(
            PROCESS,
            ReconciliationInput(day=day, policy=reconciliation_policy(settings)),
            id=workflow_id,
            task_queue=WORKFLOW_TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        run_id = handle.result_run_id or ""
    return StartOutcome(
        workflow_id=workflow_id,
        run_id=run_id,
        web_ui_url=web_ui_url(settings, client.namespace, workflow_id),
        already_existed=already_running,
    )


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ScheduleProblem(f"--day {text!r} is not a date (YYYY-MM-DD): {exc}") from None


def describe_spec(spec: ScheduleSpec) -> str:
    """`daily at 02:00` for our calendars; Temporal's own words for anything else."""
    zone = spec.time_zone_name or "UTC"
    times = []
    for calendar in spec.calendars:
        every_day = (
            _values(calendar.day_of_month) == list(range(1, 32))
            and _values(calendar.month) == list(range(1, 13))
            and _values(calendar.day_of_week) == list(range(7))
            and not calendar.year
        )
        hours, minutes, seconds = (
            _values(calendar.hour),
            _values(calendar.minute),
            _values(calendar.second),
        )
        if not (every_day and len(hours) == len(minutes) == len(seconds) == 1):
            return f"{len(spec.calendars)} calendar(s), {len(spec.intervals)} interval(s) ({zone})"
        clock = f"{hours[0]:02d}:{minutes[0]:02d}" + (f":{seconds[0]:02d}" if seconds[0] else "")
        times.append(clock)
    if not times or spec.intervals or spec.cron_expressions:
        return f"{len(spec.calendars)} calendar(s), {len(spec.intervals)} interval(s) ({zone})"
    return f"daily at {', '.join(times)} ({zone})"


def _values(ranges: Sequence[ScheduleRange]) -> list[int]:
    values: list[int] = []
    for r in ranges:
        values.extend(range(r.start, max(r.end, r.start) + 1, r.step or 1))
    return values


async def _describe(handle: ScheduleHandle) -> ScheduleDescription:
    try:
        return await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ScheduleNotFound(
                f"no schedule '{handle.id}' (create it with `backoffice schedules create`)"
            ) from None
        raise


def _view(schedule_id: str, description: ScheduleDescription) -> ScheduleView:
    schedule, info = description.schedule, description.info
    action = schedule.action
    recent = [
        RecentRun(
            workflow_id=r.action.workflow_id, scheduled_at=r.scheduled_at, started_at=r.started_at
        )
        for r in info.recent_actions
        if isinstance(r.action, ScheduleActionExecutionStartWorkflow)
    ]
    return ScheduleView(
        schedule_id=schedule_id,
        workflow=action.workflow if isinstance(action, ScheduleActionStartWorkflow) else "?",
        task_queue=action.task_queue if isinstance(action, ScheduleActionStartWorkflow) else None,
        when=describe_spec(schedule.spec),
        time_zone=schedule.spec.time_zone_name or "UTC",
        paused=schedule.state.paused,
        note=schedule.state.note,
        overlap=schedule.policy.overlap.name.lower(),
        catchup_window=schedule.policy.catchup_window,
        next_runs=list(info.next_action_times),
        recent_runs=recent,
        running=[
            r.workflow_id
            for r in info.running_actions
            if isinstance(r, ScheduleActionExecutionStartWorkflow)
        ],
        actions_taken=info.num_actions,
        missed_catchup_window=info.num_actions_missed_catchup_window,
        skipped_overlap=info.num_actions_skipped_overlap,
    )


async def _fingerprint(client: Client, schedule: Schedule) -> tuple[Any, ...]:
    """What `create` keeps current: action, input, calendar, time zone, overlap, catch-up."""
    action = schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow):
        return ("not a workflow start",)
    args: list[Any] = list(action.args)
    if args and not isinstance(args[0], ReconciliationInput):
        try:  # described by the server: still encoded
            args = await client.data_converter.decode(args, [ReconciliationInput])
        except Exception:  # not our input at all: different
            args = ["undecodable"]
    calendars = [
        tuple(
            tuple(_values(getattr(c, part)))
            for part in ("second", "minute", "hour", "day_of_month", "month", "day_of_week")
        )
        for c in schedule.spec.calendars
    ]
    return (
        action.workflow,
        action.id,
        action.task_queue,
        [a.model_dump(mode="json") if isinstance(a, BaseModel) else a for a in args],
        calendars,
        schedule.spec.time_zone_name or "UTC",
        schedule.policy.overlap,
        schedule.policy.catchup_window,
    )


async def _running_run(client: Client, workflow_id: str) -> str | None:
    """The run id of the workflow with this id, if it is still running."""
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return description.run_id if description.status == WorkflowExecutionStatus.RUNNING else None
