"""How a run that cannot finish ends: compensate, then fail with why and what was undone."""

import asyncio
from typing import TYPE_CHECKING

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

from domain.approvals import ApprovalStatus, Resolution
from domain.errors import ErrorCode
from workflows.progress import Progress
from workflows.saga import CompensationFailed, Saga

if TYPE_CHECKING:
    from workflows.review import Resolve

# Runs started before the review queue fail where they now wait for operations (checked when a
# failure happens, so runs that meet none carry no marker).
REVIEW_QUEUE = "attention-review-queue"


class ApprovalNotGranted(Exception):
    """The approval ended rejected or expired."""

    def __init__(self, status: ApprovalStatus) -> None:
        super().__init__(status.value)
        self.status = status


class Refused(Exception):
    """A step answered, and the run refuses to go on with the answer (billing computed another
    total, say): a permanent failure, undone like a step's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def cancelled(failure: BaseException) -> bool:
    """The run was asked to cancel and the step under way ended: that is the run's ending, not
    the step's failure. The step fails with CancelledError when the cancel finds it waiting to be
    retried, and with its own error when the cancel finds an attempt under way (it is not
    retried then)."""
    return workflow.cancellation_reason() is not None and isinstance(failure, ActivityError)


def cancelled_ending(progress: Progress) -> asyncio.CancelledError:
    """What a run raises to end cancelled (after undoing what it must, if anything)."""
    progress.outcome = "cancelled"
    return asyncio.CancelledError(f"cancel requested during: {progress.stage}")


def failure_code(exc: BaseException) -> str:
    """The error code an operator sees: the system's code, or our own."""
    if isinstance(exc, ApprovalNotGranted):
        if exc.status == ApprovalStatus.REJECTED:
            return ErrorCode.APPROVAL_REJECTED.value
        return ErrorCode.APPROVAL_EXPIRED.value
    if isinstance(exc, Refused):
        return exc.code
    cause = exc.cause if isinstance(exc, ActivityError | ChildWorkflowError) else exc
    if isinstance(cause, ApplicationError) and cause.type:
        return cause.type
    return ErrorCode.HTTP_ERROR.value if isinstance(exc, ActivityError) else type(exc).__name__


async def compensate(saga: Saga, progress: Progress, resolve: "Resolve | None" = None) -> list[str]:
    """Run the saga. A compensation that keeps failing waits in the review queue (`resolve`:
    retry it, or skip it as done by hand); without one it leaves the run in
    `compensation_failed`."""
    progress.enter("compensating")
    try:
        while True:
            try:
                return await saga.compensate()
            except CompensationFailed as failed:
                progress.problem = failed.message
                if resolve is None or not workflow.patched(REVIEW_QUEUE):
                    progress.enter("compensation_failed")
                    raise
            progress.compensations = saga.undone + [f"FAILED: {f}" for f in saga.failed]
            code = ErrorCode.COMPENSATION_FAILED.value
            step = f"compensation: {', '.join(saga.failed_steps)}"
            outcome = await resolve(step, code, [Resolution.RETRY, Resolution.SKIP])
            if outcome.resolution == Resolution.SKIP:
                saga.done_by_hand(outcome.decided_by or "-", outcome.comment)
                progress.problem = None
                return saga.undone
            saga.retry_failed()
    finally:
        progress.compensations = saga.undone + [f"FAILED: {f}" for f in saga.failed]


async def undo(
    saga: Saga, progress: Progress, failure: Exception, resolve: "Resolve | None" = None
) -> BaseException:
    """Compensate, then the error the run fails with: its code, why, and what was undone.

    A step that ended because the run was asked to cancel (see `cancelled`) is no failure: the
    run is undone as cancelled and ends cancelled."""
    if cancelled(failure):
        await cancel(saga, progress)
        return cancelled_ending(progress)
    code = failure_code(failure)
    if isinstance(failure, ApprovalNotGranted):
        why = f"approval {failure.status.value}"
    else:
        cause = failure.cause if isinstance(failure, ActivityError) else None
        why = f"permanent failure: {cause or failure}"
    progress.problem = why
    undone = await compensate(saga, progress, resolve)
    progress.problem = why
    progress.enter("compensated")
    progress.outcome = code.lower()
    return ApplicationError(
        f"{progress.process} {progress.business_key} failed ({why}); "
        f"undone: {'; '.join(undone) if undone else 'nothing'}",
        type=code,
        non_retryable=True,
    )


async def cancel(saga: Saga, progress: Progress, resolve: "Resolve | None" = None) -> None:
    """A cancelled run undoes what it did, then ends cancelled (the caller re-raises)."""
    progress.enter("cancelling")
    await compensate(saga, progress, resolve)
    progress.outcome = "cancelled"
