"""The review queue, as a workflow's steps use it: a step past the point of no return, or a
compensation, that fails for good waits for operations (retry, skip, compensate) instead of
failing the run. The waiting itself is the approval gate's (`ApprovalsMixin._resolve`)."""

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError

from domain.approvals import ApprovalOutcome, Resolution
from workflows import outcomes
from workflows.outcomes import REVIEW_QUEUE

ResultT = TypeVar("ResultT")


class Resolve(Protocol):
    async def __call__(
        self, step: str, code: str, actions: list[Resolution]
    ) -> ApprovalOutcome: ...


class EndedByOperations(Exception):
    """Operations decided to compensate what can be undone and end the run at `step`."""

    def __init__(self, step: str, outcome: ApprovalOutcome) -> None:
        super().__init__(
            f"{step}: ended by {outcome.decided_by} ({outcome.comment or 'no comment'})"
        )
        self.step = step
        self.outcome = outcome


async def attended(
    resolve: Resolve | None,
    step: str,
    call: Callable[[], Awaitable[ResultT]],
    *,
    skippable: bool = True,
) -> ResultT | None:
    """Run `call`; when it fails for good, wait for operations: retry runs it again, skip goes
    on without it (None: done by hand; only where later steps need nothing from it), and
    compensate raises `EndedByOperations`. Without `resolve` the failure is raised."""
    while True:
        try:
            return await call()
        except ActivityError as exc:
            if resolve is None or outcomes.cancelled(exc) or not workflow.patched(REVIEW_QUEUE):
                raise
            actions = [Resolution.RETRY, Resolution.SKIP, Resolution.COMPENSATE]
            if not skippable:
                actions.remove(Resolution.SKIP)
            outcome = await resolve(step, outcomes.failure_code(exc), actions)
        if outcome.resolution == Resolution.SKIP:
            return None
        if outcome.resolution == Resolution.COMPENSATE:
            raise EndedByOperations(step, outcome)
