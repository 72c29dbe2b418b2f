"""The daily reconciliation as a Temporal schedule: create, list, describe, pause, unpause,
trigger, backfill, delete.

`reconciliation-daily` starts `Reconciliation` on `backoffice` every day at
BACKOFFICE_RECONCILIATION_AT in BACKOFFICE_RECONCILIATION_TIME_ZONE; each run covers the day
before (see `domain.reconciliation`). Runs may overlap: each day is its own run (its own id), so
a run held by a CRM outage never makes the next day's run wait or be skipped; after an outage
the schedule catches up on runs missed within BACKOFFICE_RECONCILIATION_CATCHUP_WINDOW. An
existing schedule gets the new overlap policy the next time `backoffice schedules create` runs
(the deploy does). Creating it again is
idempotent: an existing schedule that matches the settings is left as it is, one that does not
is updated to them (its paused state and note are kept).
"""

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from temporalio.client import (
    Client,
    Schedule,
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
)
from temporalio.service import RPCError, RPCStatusCode

from domain import summaries
from domain.contract import RECONCILIATION, RECONCILIATION_SCHEDULE_ID
from domain.reconciliation import (
    ReconciliationInput,
    day_covered,
    time_zone,
)
from domain.systems import WORKFLOW_TASK_QUEUE
from runtime.settings import Settings
from starters.reconciliation import (
    BadInput,
    reconciliation_policy,
    refuse_bad_days,
    refuse_unwritable_export_dir,
)
from starters.schedule_views import ScheduleView, calendar_values, listed_view, view_of

# A backfill longer than this is more likely a typo than a plan.
MAX_BACKFILL = timedelta(days=366)


class ScheduleNotFound(LookupError):
    """No schedule with that id."""


class CreateOutcome(StrEnum):
    CREATED = "created"
    UNCHANGED = "unchanged"
    UPDATED = "updated"


def reconciliation_schedule(
    settings: Settings, schedule_id: str = RECONCILIATION_SCHEDULE_ID
) -> Schedule:
    at = settings.reconciliation_at
    inp = ReconciliationInput(policy=reconciliation_policy(settings))
    description = summaries.reconciliation(inp)
    return Schedule(
        # Temporal appends the scheduled time: runs are `<schedule id>-<timestamp>`.
        action=ScheduleActionStartWorkflow(
            RECONCILIATION,
            inp,
            id=schedule_id,
            task_queue=WORKFLOW_TASK_QUEUE,
            static_summary=description.summary,
            static_details=description.details,
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
            # ALLOW_ALL: each day starts on time even while an earlier day is held (SKIP would
            # drop it, BUFFER_ONE delay it). Two days never move a deal to an older invoice.
            overlap=ScheduleOverlapPolicy.ALLOW_ALL,
            catchup_window=settings.reconciliation_catchup_window,
        ),
        state=ScheduleState(note="created by `backoffice schedules create`"),
    )


async def create_schedule(
    client: Client, settings: Settings, schedule_id: str = RECONCILIATION_SCHEDULE_ID
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
    return view_of(schedule_id, await _describe(client.get_schedule_handle(schedule_id)))


async def list_schedules(client: Client) -> list[ScheduleView]:
    views = [listed_view(listed) async for listed in await client.list_schedules()]
    return sorted((v for v in views if v is not None), key=lambda v: v.schedule_id)


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
        raise BadInput(
            f"{option} {text!r} is neither a date (YYYY-MM-DD) nor a date-time "
            f"(YYYY-MM-DDTHH:MM): {exc}"
        ) from None


def backfill_window(
    start: date | datetime, end: date | datetime, zone: str
) -> tuple[datetime, datetime]:
    """Two dates: the days to reconcile, both included, so the window holds the runs scheduled
    on the day after each. Two date-times: scheduled times, both included (no offset: in
    `zone`)."""
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
        raise BadInput(
            "--start and --end must both be dates (the days to reconcile) or both date-times "
            "(scheduled times)"
        )
    if window[1] < window[0]:
        raise BadInput(f"--end ({end}) comes before --start ({start})")
    if window[1] - window[0] > MAX_BACKFILL:
        raise BadInput(f"a backfill covers at most {MAX_BACKFILL.days} days")
    return window


async def backfill_schedule(
    client: Client,
    settings: Settings,
    schedule_id: str,
    start: date | datetime,
    end: date | datetime,
) -> tuple[datetime, datetime, str]:
    """Runs for every scheduled time in the window, one after another; returns the window.
    Refused before anything starts: a window over a year, days in the future or before billing
    went live, an export dir that cannot be written."""
    handle = client.get_schedule_handle(schedule_id)
    zone = (await _describe(handle)).schedule.spec.time_zone_name or "UTC"
    start_at, end_at = backfill_window(start, end, zone)
    first, last = day_covered(start_at, zone), day_covered(end_at, zone)
    refuse_bad_days(settings, first, last, option="the backfill's day")
    refuse_unwritable_export_dir(settings)
    # Temporal's window leaves out its start: a second earlier keeps a run scheduled right at it.
    # Buffered, not skipped: the backfilled runs all happen, one after another.
    await handle.backfill(
        ScheduleBackfill(start_at - timedelta(seconds=1), end_at, ScheduleOverlapPolicy.BUFFER_ALL)
    )
    return start_at, end_at, zone


async def _describe(handle: ScheduleHandle) -> ScheduleDescription:
    try:
        return await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ScheduleNotFound(
                f"no schedule '{handle.id}' (create it with `backoffice schedules create`)"
            ) from None
        raise


async def _fingerprint(client: Client, schedule: Schedule) -> tuple[Any, ...]:
    """What `create` keeps current: action, input, calendar, time zone, overlap, catch-up."""
    action = schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow):
        return ("not a workflow start",)
    args: list[Any] = list(action.args)
    if args and not isinstance(args[0], ReconciliationInput):
        try:  # described by the server: still encoded
            args = await client.data_converter.decode(args, [ReconciliationInput])
        except Exception:  # not our input, or sealed with keys gone with a Vault reset: rewrite
            args = ["undecodable"]
    calendars = [
        tuple(
            tuple(calendar_values(getattr(c, part)))
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
