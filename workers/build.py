"""How every worker of this project is built and run: the workflow sandbox with our pass-through
modules, the tuning settings (`BACKOFFICE_WORKER_*`), graceful shutdown.

The product worker (`workers.main`) and the benchmark's floor worker (`bench.floor_worker`) both
use these functions, so the benchmark compares workflows, never worker set-ups.
"""

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import (
    ActivityInboundInterceptor,
    Interceptor,
    PollerBehaviorSimpleMaximum,
    Worker,
    WorkerDeploymentConfig,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.reruns import RerunNumber
from activities.retry_notice import RetryNotice
from runtime.settings import Settings
from workers.code_cache import keep_compiled
from workflows.reruns import RerunHeaders

# Pure modules that workflows import: loaded once, not re-imported into every workflow sandbox.
PASSTHROUGH = ("domain", "pydantic", "pydantic_core", "activities", "httpx", "hvac", "sqlalchemy")


def sandboxed_runner(*extra_passthrough: str) -> SandboxedWorkflowRunner:
    """The workflow sandbox, with our pure modules passed through and the modules it imports
    afresh for each run compiled once (workers/code_cache.py)."""
    keep_compiled()
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            *PASSTHROUGH, *extra_passthrough
        )
    )


class ActivityContext(Interceptor):
    """A re-run's number travels with each of its activity calls (domain/reruns.py); a step
    that keeps failing tells its run (activities/retry_notice.py)."""

    def __init__(self, retrying_notice_after: int) -> None:
        self._retrying_notice_after = retrying_notice_after

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return RerunNumber(RetryNotice(next, self._retrying_notice_after))

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return RerunHeaders


def worker_interceptors(
    retrying_notice_after: int = Settings.model_fields["retrying_notice_after_attempts"].default,
) -> list[Interceptor]:
    """The interceptors of every worker, and of the replayer (its workflow side is the same)."""
    return [ActivityContext(retrying_notice_after)]


def _tuning(settings: Settings, deployment: WorkerDeploymentConfig | None) -> dict[str, Any]:
    """Worker options every worker shares; unset settings keep the SDK's defaults; with a
    `deployment`, the worker is that version of a Worker Deployment (workers.versioning)."""
    options: dict[str, Any] = {
        "interceptors": worker_interceptors(settings.retrying_notice_after_attempts),
        "graceful_shutdown_timeout": timedelta(seconds=settings.worker_shutdown_grace_seconds),
        "max_concurrent_activities": settings.worker_max_concurrent_activities,
    }
    if deployment is not None:
        options["deployment_config"] = deployment
    if settings.worker_activity_task_pollers is not None:
        options["activity_task_poller_behavior"] = PollerBehaviorSimpleMaximum(
            maximum=settings.worker_activity_task_pollers
        )
    return options


def workflow_worker(
    client: Client,
    settings: Settings,
    *,
    task_queue: str,
    workflows: Sequence[type],
    activities: Sequence[Callable[..., Any]] = (),
    runner: SandboxedWorkflowRunner | None = None,
    deployment: WorkerDeploymentConfig | None = None,
) -> Worker:
    """A worker polling `task_queue` for workflow tasks (and activity tasks, if any given)."""
    options = _tuning(settings, deployment)
    if settings.worker_workflow_task_pollers is not None:
        options["workflow_task_poller_behavior"] = PollerBehaviorSimpleMaximum(
            maximum=settings.worker_workflow_task_pollers
        )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=workflows,
        activities=activities,
        workflow_runner=runner or sandboxed_runner(),
        max_cached_workflows=settings.worker_max_cached_workflows,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        **options,
    )


def activity_worker(
    client: Client,
    settings: Settings,
    *,
    task_queue: str,
    activities: Sequence[Callable[..., Any]],
    per_second: float | None = None,
    deployment: WorkerDeploymentConfig | None = None,
) -> Worker:
    """A worker polling `task_queue` for activity tasks; `per_second` limits the whole queue
    (every worker at once), which is how a system's API rate limit holds."""
    return Worker(
        client,
        task_queue=task_queue,
        activities=activities,
        max_task_queue_activities_per_second=per_second,
        **_tuning(settings, deployment),
    )


async def serve(
    workers: Sequence[Worker], on_ready: Callable[[], None], log: logging.Logger
) -> None:
    """Run `workers` until SIGTERM/SIGINT or until one of them stops, then shut all down
    gracefully (in-flight activities get the grace period). Raises if a worker failed."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running = [asyncio.create_task(w.run()) for w in workers]
    on_ready()
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([stopped, *running], return_when=asyncio.FIRST_COMPLETED)
    log.info("shutting down")
    stopped.cancel()
    await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
    await asyncio.gather(*running, return_exceptions=True)
    for task in running:
        if task.done() and not task.cancelled() and task.exception():
            raise RuntimeError("a worker stopped unexpectedly") from task.exception()
