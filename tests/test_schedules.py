"""The `reconciliation-daily` schedule: made by the dev stack, managed with `backoffice
schedules`, triggered and backfilled into one export file per day.

The trigger and backfill test uses a schedule of its own (same code path, another id), in
another time zone, so it neither waits for nor disturbs the stack's own schedule.
"""

import contextlib
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow
from temporalio.service import RPCError

from domain.contract import BUSINESS_KEY
from domain.reconciliation import ReconciliationResult
from starters.reconciliation import BadInput
from starters.schedules import backfill_window, parse_moment
from tests.helpers import result_of, wait_for
from tests.test_cli import backoffice

BERLIN = ZoneInfo("Europe/Berlin")


def test_backfill_dates_are_the_days_to_reconcile():
    start, end = backfill_window(date(2001, 2, 3), date(2001, 2, 5), "Europe/Berlin")
    # The runs covering Feb 3..5 are those scheduled on Feb 4..6.
    assert start == datetime(2001, 2, 4, tzinfo=BERLIN)
    assert end == datetime(2001, 2, 6, 23, 59, 59, tzinfo=BERLIN)
    moments = backfill_window(
        parse_moment("2001-02-04T00:30", "--start"),
        parse_moment("2001-02-06T00:30+01:00", "--end"),
        "Europe/Berlin",
    )
    assert moments == (datetime(2001, 2, 4, 0, 30, tzinfo=BERLIN), moments[1])
    assert moments[1].utcoffset() == timedelta(hours=1)
    with pytest.raises(BadInput, match="both be dates"):
        backfill_window(date(2001, 2, 3), datetime(2001, 2, 5), "UTC")
    with pytest.raises(BadInput, match="comes before"):
        backfill_window(date(2001, 2, 5), date(2001, 2, 3), "UTC")
    with pytest.raises(BadInput, match="--start '2001-02-30'"):
        parse_moment("2001-02-30", "--start")


async def test_the_dev_stack_made_the_daily_schedule_and_create_is_idempotent(cli_env):
    shown = backoffice("schedules", "describe", env=cli_env)
    assert shown.returncode == 0, shown.stderr
    assert "schedule reconciliation-daily: active" in shown.stdout
    assert "starts Reconciliation on task queue backoffice, daily at 02:00 (UTC)" in shown.stdout
    assert "overlapping runs: allow_all; catch-up window: 1 day" in shown.stdout
    again = backoffice("schedules", "create", env=cli_env)
    assert again.returncode == 0, again.stderr
    assert "already exists and matches the settings: unchanged" in again.stdout

    async def listed() -> bool:
        out = backoffice("schedules", "list", env=cli_env).stdout
        return "reconciliation-daily" in out and "daily at 02:00 (UTC)" in out

    await wait_for(listed, timeout=30, what="the schedule in `backoffice schedules list`")


async def test_bad_input_names_the_problem_and_creates_nothing(cli_env):
    bad_zone = {**cli_env, "BACKOFFICE_RECONCILIATION_TIME_ZONE": "Mars/Olympus"}
    schedule_id = f"reconciliation-bad-{uuid.uuid4().hex[:6]}"
    refused = backoffice("schedules", "create", "--id", schedule_id, env=bad_zone)
    assert refused.returncode == 2
    assert "BACKOFFICE_RECONCILIATION_TIME_ZONE" in refused.stderr
    assert "unknown time zone 'Mars/Olympus'" in refused.stderr
    bad_time = {**cli_env, "BACKOFFICE_RECONCILIATION_AT": "25:00"}
    refused = backoffice("schedules", "create", "--id", schedule_id, env=bad_time)
    assert refused.returncode == 2 and "BACKOFFICE_RECONCILIATION_AT" in refused.stderr
    missing = backoffice("schedules", "describe", "--id", schedule_id, env=cli_env)
    assert missing.returncode == 1 and f"no schedule '{schedule_id}'" in missing.stderr

    bad_date = backoffice(
        "schedules", "backfill", "--start", "2001-02-30", "--end", "2001-03-01", env=cli_env
    )
    assert bad_date.returncode == 2 and "--start '2001-02-30'" in bad_date.stderr
    reversed_range = backoffice(
        "schedules", "backfill", "--start", "2001-03-05", "--end", "2001-03-01", env=cli_env
    )
    assert reversed_range.returncode == 2 and "comes before --start" in reversed_range.stderr


async def _runs_done(client: Client, schedule_id: str, count: int) -> list[str] | None:
    """The workflow ids of the schedule's runs once `count` have started and all have ended."""
    info = (await client.get_schedule_handle(schedule_id).describe()).info
    ids = [
        r.action.workflow_id
        for r in info.recent_actions
        if isinstance(r.action, ScheduleActionExecutionStartWorkflow)
    ]
    return ids if len(ids) >= count and not info.running_actions else None


async def test_trigger_and_backfill_write_one_file_per_day(client, cli_env, settings):
    schedule_id = f"reconciliation-test-{uuid.uuid4().hex[:6]}"
    # 00:30 in Berlin is the evening before in UTC: a wrong zone would cover the wrong days.
    env = {
        **cli_env,
        "BACKOFFICE_RECONCILIATION_TIME_ZONE": "Europe/Berlin",
        "BACKOFFICE_RECONCILIATION_AT": "00:30",
    }
    exports = settings.resolved_export_dir
    try:
        created = backoffice("schedules", "create", "--id", schedule_id, env=env)
        assert created.returncode == 0, created.stderr
        assert f"schedule {schedule_id} created: Reconciliation daily at 00:30 (Europe/Berlin)" in (
            created.stdout
        )
        moved = backoffice(
            "schedules",
            "create",
            "--id",
            schedule_id,
            env={**env, "BACKOFFICE_RECONCILIATION_AT": "00:45"},
        )
        assert "already existed: updated to the current settings" in moved.stdout
        assert "daily at 00:45 (Europe/Berlin)" in moved.stdout
        back = backoffice("schedules", "create", "--id", schedule_id, env=env)
        assert "updated" in back.stdout
        same = backoffice("schedules", "create", "--id", schedule_id, env=env)
        assert "unchanged" in same.stdout

        paused = backoffice("schedules", "pause", "--id", schedule_id, env=env)
        assert paused.returncode == 0 and "paused" in paused.stdout
        shown = backoffice("schedules", "describe", "--id", schedule_id, env=env)
        assert f"schedule {schedule_id}: paused" in shown.stdout
        active = backoffice("schedules", "unpause", "--id", schedule_id, env=env)
        assert active.returncode == 0 and f"schedule {schedule_id} active" in active.stdout

        yesterday = (datetime.now(BERLIN) - timedelta(days=1)).date()
        triggered = backoffice("schedules", "trigger", "--id", schedule_id, env=env)
        assert triggered.returncode == 0, triggered.stderr
        assert f"reconciles {yesterday}" in triggered.stdout
        [run] = await wait_for(
            lambda: _runs_done(client, schedule_id, 1), timeout=90, what="the triggered run"
        )
        assert run.startswith(f"{schedule_id}-")
        result = await result_of(client.get_workflow_handle(run, result_type=ReconciliationResult))
        assert result.day == yesterday and result.time_zone == "Europe/Berlin"
        assert (exports / f"invoices-{yesterday}.csv").is_file()

        filled = backoffice(
            "schedules",
            "backfill",
            "--id",
            schedule_id,
            "--start",
            "2001-02-03",
            "--end",
            "2001-02-05",
            env=env,
        )
        assert filled.returncode == 0, filled.stderr
        assert "reconciling 2001-02-03 to 2001-02-05" in filled.stdout
        runs = await wait_for(
            lambda: _runs_done(client, schedule_id, 4), timeout=120, what="the backfilled runs"
        )
        backfilled = sorted(set(runs) - {run})
        # Scheduled at 00:30 in Berlin, 23:30 UTC the evening before: Temporal's ids are UTC.
        assert backfilled == [
            f"{schedule_id}-2001-02-03T23:30:00Z",
            f"{schedule_id}-2001-02-04T23:30:00Z",
            f"{schedule_id}-2001-02-05T23:30:00Z",
        ]
        days = []
        for workflow_id in backfilled:
            handle = client.get_workflow_handle(workflow_id, result_type=ReconciliationResult)
            days.append((await result_of(handle)).day)
            assert (await handle.describe()).search_attributes.get(BUSINESS_KEY.name) == [
                days[-1].isoformat()
            ]
        assert days == [date(2001, 2, 3), date(2001, 2, 4), date(2001, 2, 5)]
        for day in days:
            content = (exports / f"invoices-{day}.csv").read_bytes()
            assert content.startswith(b"invoice_id,number,status,") and content.count(b"\r\n") == 1

        deleted = backoffice("schedules", "delete", "--id", schedule_id, env=env)
        assert deleted.returncode == 0 and f"schedule {schedule_id} deleted" in deleted.stdout
        gone = backoffice("schedules", "describe", "--id", schedule_id, env=env)
        assert gone.returncode == 1 and f"no schedule '{schedule_id}'" in gone.stderr
    finally:
        with contextlib.suppress(RPCError):  # deleted by the test itself
            await client.get_schedule_handle(schedule_id).delete()
