"""Compensations: typed activity calls registered before their step, run in reverse, surfaced."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from domain.errors import ErrorCode
from domain.metrics import COMPENSATIONS, CompensationOutcome
from domain.records import CompensationResult

InputT = TypeVar("InputT")
ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class Compensation(Generic[InputT]):
    """Undo one step: an activity method, its input, and the queue of the system it calls.

    The activity must be idempotent and must find what to undo by business key, because it is
    registered before its step runs (the step may have written and then failed to answer).
    """

    step: str
    activity: Callable[[Any, InputT], Awaitable[CompensationResult]]
    arg: InputT
    task_queue: str


class CompensationFailed(ApplicationError):
    """Some compensations kept failing: the systems need an operator."""


class Saga:
    def __init__(
        self,
        *,
        give_up_after: timedelta,
        attempts: int = 0,
        timeout: timedelta = timedelta(seconds=30),
    ) -> None:
        """Each compensation retries until `give_up_after` (a budget of days: an outage must
        not leave half-undone work to manual cleanup); `attempts` > 0 caps it further."""
        self._registered: list[Compensation[Any]] = []
        self._retry = RetryPolicy(
            initial_interval=timedelta(seconds=1),
            maximum_interval=timedelta(minutes=5),
            maximum_attempts=attempts,
        )
        self._give_up_after = give_up_after
        self._timeout = timeout
        self.undone: list[str] = []
        self.failed: list[str] = []
        self._failed_calls: list[Compensation[Any]] = []

    def register(self, compensation: Compensation[Any]) -> None:
        self._registered.append(compensation)

    async def compensate(self) -> list[str]:
        """Run every registered compensation, last first; returns what was really undone.

        A cancelled workflow still gets here, and a cancel request does not interrupt it.
        """
        while self._registered:
            compensation = self._registered.pop()
            call = asyncio.ensure_future(
                workflow.execute_activity_method(
                    compensation.activity,
                    compensation.arg,
                    task_queue=compensation.task_queue,
                    start_to_close_timeout=self._timeout,
                    schedule_to_close_timeout=self._give_up_after,
                    retry_policy=self._retry,
                )
            )
            try:
                result = await finish_despite_cancel(call)
            except ActivityError as exc:
                self.failed.append(f"{compensation.step} ({_cause(exc)})")
                self._failed_calls.append(compensation)
                _count(compensation, CompensationOutcome.FAILED)
                continue
            _count(compensation, CompensationOutcome.OK)
            if result.undone:
                self.undone.append(result.description)
        if self.failed:
            raise CompensationFailed(
                "compensation failed, operator action needed: "
                + "; ".join(self.failed)
                + (f" (undone: {'; '.join(self.undone)})" if self.undone else ""),
                type=ErrorCode.COMPENSATION_FAILED,
                non_retryable=True,
            )
        return self.undone

    @property
    def failed_steps(self) -> list[str]:
        """The steps whose compensation failed, in the order they ran."""
        return [c.step for c in self._failed_calls]

    def retry_failed(self) -> None:
        """The compensations that failed, registered again (in the order they ran)."""
        self._registered = list(reversed(self._failed_calls))
        self._failed_calls, self.failed = [], []

    def done_by_hand(self, by: str, why: str) -> None:
        """Someone undid the failed compensations by hand: recorded as undone, by whom, why."""
        for failed in self.failed:
            self.undone.append(f"{failed}: done by hand by {by} ({why})")
        self._failed_calls, self.failed = [], []


async def finish_despite_cancel(call: "asyncio.Future[ResultT]") -> ResultT:
    """Wait for `call` to end even if the run is asked to cancel meanwhile (a compensation, or
    a step past which a cancel must not stop the run); the cancel stays requested."""
    while True:
        try:
            return await asyncio.shield(call)
        except asyncio.CancelledError:
            if call.done():
                return call.result()


def _count(compensation: Compensation[Any], outcome: CompensationOutcome) -> None:
    """One compensation run, on the worker's metrics endpoint (the workflow meter skips replays;
    it adds the process as `workflow_type`)."""
    runs = workflow.metric_meter().create_counter(
        COMPENSATIONS, "Compensations run, by step undone and outcome"
    )
    runs.add(1, {"compensation": compensation.step, "outcome": outcome.value})


def _cause(exc: ActivityError) -> str:
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.type:
        return cause.type
    return type(cause).__name__ if cause else "unknown"
