"""How workflows call activities: each system's queue, timeouts and retry policy, in one place."""

from datetime import timedelta
from typing import TypedDict

from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

from domain.retries import RetryBudgets
from domain.systems import System

# Transient failures (5xx, timeouts, 429) retry with backoff; the classification marks the rest
# non-retryable, so an unbounded attempt count cannot loop on a permanent error.
SYSTEM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)


class ActivityOptions(TypedDict):
    task_queue: str
    start_to_close_timeout: timedelta
    schedule_to_close_timeout: timedelta
    retry_policy: RetryPolicy
    cancellation_type: ActivityCancellationType


def before_commit(system: System, retries: RetryBudgets) -> ActivityOptions:
    """A call before the point of no return: it waits out an outage of days (the breaker keeps
    it from calling a system that is down); only a refusal, or that deadline, undoes the run."""
    return on(system, give_up_after=retries.before_commit)


def after_commit(system: System, retries: RetryBudgets) -> ActivityOptions:
    """A call past the point of no return: nothing will undo it, so it rides out long outages."""
    return on(system, give_up_after=retries.after_commit)


def on(system: System, *, give_up_after: timedelta) -> ActivityOptions:
    """Keyword arguments for `workflow.execute_activity_method` for a call to `system`."""
    return ActivityOptions(
        task_queue=system.task_queue,
        start_to_close_timeout=timedelta(seconds=30),
        schedule_to_close_timeout=give_up_after,
        retry_policy=SYSTEM_RETRY,
        # A cancelled run waits for a call in flight to end, so that its compensation sees
        # whatever the call created.
        cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    )
