"""Activity side of re-runs (domain/reruns.py): the run's number, for its idempotency keys."""

from contextvars import ContextVar
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput

from domain.reruns import RERUN_HEADER

RERUN: ContextVar[int] = ContextVar("rerun", default=0)


class RerunNumber(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        stamp = input.headers.get(RERUN_HEADER)
        number = int(activity.payload_converter().from_payload(stamp, int)) if stamp else 0
        token = RERUN.set(number)
        try:
            return await self.next.execute_activity(input)
        finally:
            RERUN.reset(token)
