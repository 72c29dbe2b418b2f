"""Resetting a run as an operator does, with the raw `temporal` CLI."""

import subprocess
from typing import Any

from temporalio.client import WorkflowHandle

from devstack.temporal_cli import find_temporal_cli


async def reset_before(handle: WorkflowHandle[Any, Any], address: str, marker: str) -> str:
    """`temporal workflow reset` to the last workflow task before the first event for which
    `marker` (an activity type, or an event attribute field such as
    `start_child_workflow_execution_initiated_event_attributes`) matches; returns the old run."""
    events = [e async for e in handle.fetch_history_events()]

    def matches(event: Any) -> bool:
        if event.HasField("activity_task_scheduled_event_attributes"):
            return bool(event.activity_task_scheduled_event_attributes.activity_type.name == marker)
        return bool(event.HasField(marker)) if marker.endswith("_attributes") else False

    first = next(e.event_id for e in events if matches(e))
    reset_to = max(
        e.event_id
        for e in events
        if e.event_id < first and e.HasField("workflow_task_completed_event_attributes")
    )
    old_run = (await handle.describe()).run_id
    done = subprocess.run(
        [
            str(find_temporal_cli()),
            "workflow",
            "reset",
            "--address",
            address,
            "--workflow-id",
            handle.id,
            # The run the handle names (an older one after continue-as-new), else the latest.
            *(["--run-id", handle.run_id] if handle.run_id else []),
            "--event-id",
            str(reset_to),
            "--reason",
            f"test: reset before {marker}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return old_run
