"""The worker process: connect, log in to Vault (fail closed), run every queue, stop gracefully."""

import asyncio
import logging
import signal
import sys
from datetime import timedelta

from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.audit import AuditLog
from domain.systems import WORKFLOW_TASK_QUEUE
from runtime.db import create_schema, make_engine
from runtime.logs import configure_logging
from runtime.settings import Settings, SettingsError, load_settings
from runtime.temporal import check_payload_keys, connect
from runtime.vault import SecretUnavailable, secret_store
from workers.registry import WORKFLOWS, activities_by_queue, file_activities, system_clients

log = logging.getLogger("backoffice.worker")

# Pure modules that workflows import: loaded once, not re-imported into every workflow sandbox.
PASSTHROUGH = ("domain", "pydantic", "pydantic_core", "activities", "httpx", "hvac", "sqlalchemy")
READY_LINE = "backoffice worker ready"


async def run_worker(settings: Settings) -> None:
    secrets = secret_store(settings)
    await asyncio.to_thread(secrets.login)
    engine = make_engine(settings.resolved_database_url)
    await asyncio.to_thread(create_schema, engine)
    client = await connect(settings=settings, secrets=secrets)
    await check_payload_keys(client)  # no data key from Vault transit: refuse to start
    clients, pools = system_clients(settings, secrets, AuditLog(engine))
    runner = SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    )
    grace = timedelta(seconds=settings.worker_shutdown_grace_seconds)
    workers = [
        Worker(
            client,
            task_queue=WORKFLOW_TASK_QUEUE,
            workflows=WORKFLOWS,
            workflow_runner=runner,
            graceful_shutdown_timeout=grace,
        )
    ]
    for system, activities in activities_by_queue(clients, secrets, settings).items():
        workers.append(
            Worker(
                client,
                task_queue=system.task_queue,
                activities=activities,
                max_task_queue_activities_per_second=settings.rate_limits.get(system),
                graceful_shutdown_timeout=grace,
            )
        )
    for queue, activities in file_activities(settings).items():
        workers.append(
            Worker(
                client,
                task_queue=queue,
                activities=activities,
                graceful_shutdown_timeout=grace,
            )
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running = [asyncio.create_task(w.run()) for w in workers]
    print(READY_LINE, file=sys.stderr, flush=True)
    log.info("polling %s and %d activity queues", WORKFLOW_TASK_QUEUE, len(workers) - 1)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([stopped, *running], return_when=asyncio.FIRST_COMPLETED)
    log.info("shutting down")
    await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
    await asyncio.gather(*running, return_exceptions=True)
    for pool in pools:
        await pool.aclose()
    engine.dispose()
    for task in running:
        if task.done() and task.exception():
            raise RuntimeError("a worker stopped unexpectedly") from task.exception()


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"backoffice worker: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings, service="worker")
    try:
        asyncio.run(run_worker(settings))
    except SecretUnavailable as exc:
        print(f"backoffice worker: {exc}", file=sys.stderr)
        return 2
    return 0
