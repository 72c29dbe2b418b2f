"""Tells a run that one of its steps keeps failing: after the attempt that reaches a threshold
fails with a retryable error, the run gets the signal `step_retrying` (it shows the step in its
`status` and `Stage` = `retrying` until the step ends). Temporal retries activities without
telling the workflow; operators should not have to open each run's pending activities to see
that a system has been failing for minutes."""

import logging
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput

from domain.contract import STEP_RETRYING_SIGNAL
from domain.status import StepRetrying

log = logging.getLogger(__name__)


class RetryNotice(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, after_attempts: int) -> None:
        super().__init__(next)
        self._after_attempts = after_attempts

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except Exception as exc:
            info = activity.info()
            final = isinstance(exc, ApplicationError) and exc.non_retryable
            if info.attempt == self._after_attempts and info.workflow_id and not final:
                await _tell(info, exc)
            raise


async def _tell(info: activity.Info, exc: Exception) -> None:
    code = exc.type if isinstance(exc, ApplicationError) and exc.type else type(exc).__name__
    notice = StepRetrying(activity=info.activity_type, attempt=info.attempt, error=code)
    try:
        handle = activity.client().get_workflow_handle(info.workflow_id or "")
        await handle.signal(STEP_RETRYING_SIGNAL, notice)
    except Exception as failed:  # a notice, never a reason to fail the step differently
        log.warning("could not tell %s that a step retries: %s", info.workflow_id, failed)
