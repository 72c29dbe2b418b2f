"""How a schedule reads to a person: `daily at 02:00 (UTC)`, its state, next and recent runs."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio.client import (
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    ScheduleListDescription,
    ScheduleRange,
    ScheduleSpec,
)


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


def describe_spec(spec: ScheduleSpec) -> str:
    """`daily at 02:00` for our calendars; Temporal's own words for anything else."""
    zone = spec.time_zone_name or "UTC"
    times = []
    for calendar in spec.calendars:
        every_day = (
            calendar_values(calendar.day_of_month) == list(range(1, 32))
            and calendar_values(calendar.month) == list(range(1, 13))
            and calendar_values(calendar.day_of_week) == list(range(7))
            and not calendar.year
        )
        hours, minutes, seconds = (
            calendar_values(calendar.hour),
            calendar_values(calendar.minute),
            calendar_values(calendar.second),
        )
        if not (every_day and len(hours) == len(minutes) == len(seconds) == 1):
            return f"{len(spec.calendars)} calendar(s), {len(spec.intervals)} interval(s) ({zone})"
        clock = f"{hours[0]:02d}:{minutes[0]:02d}" + (f":{seconds[0]:02d}" if seconds[0] else "")
        times.append(clock)
    if not times or spec.intervals or spec.cron_expressions:
        return f"{len(spec.calendars)} calendar(s), {len(spec.intervals)} interval(s) ({zone})"
    return f"daily at {', '.join(times)} ({zone})"


def calendar_values(ranges: Sequence[ScheduleRange]) -> list[int]:
    values: list[int] = []
    for r in ranges:
        values.extend(range(r.start, max(r.end, r.start) + 1, r.step or 1))
    return values


def view_of(schedule_id: str, description: ScheduleDescription) -> ScheduleView:
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


def listed_view(listed: ScheduleListDescription) -> ScheduleView | None:
    """The short view `list` shows (None for a schedule the server lists without details)."""
    if listed.schedule is None:
        return None
    action, spec, state = listed.schedule.action, listed.schedule.spec, listed.schedule.state
    return ScheduleView(
        schedule_id=listed.id,
        workflow=getattr(action, "workflow", type(action).__name__),
        when=describe_spec(spec),
        time_zone=spec.time_zone_name or "UTC",
        paused=state.paused,
        note=state.note,
        next_runs=list(listed.info.next_action_times[:1]) if listed.info else [],
    )
