"""The worker process: connect, log in to Vault (fail closed), run every queue, stop gracefully."""

import asyncio
import logging
import signal
import sys

from activities.audit import AuditLog
from domain.systems import WORKFLOW_TASK_QUEUE
from runtime.db import create_schema, make_engine
from runtime.logs import configure_logging
from runtime.settings import Settings, SettingsError, load_settings
from runtime.telemetry import Service, TelemetryError, start_telemetry
from runtime.temporal import check_payload_keys, connect
from runtime.vault import SecretUnavailable, secret_store
from workers.registry import build_workers

log = logging.getLogger("backoffice.worker")

READY_LINE = "backoffice worker ready"


async def run_worker(settings: Settings) -> None:
    secrets = secret_store(settings)
    await asyncio.to_thread(secrets.login)
    engine = make_engine(settings.resolved_database_url)
    await asyncio.to_thread(create_schema, engine)
    telemetry = start_telemetry(Service.WORKER, settings)  # its metrics endpoint opens here
    client = await connect(settings=settings, secrets=secrets, telemetry=telemetry)
    await check_payload_keys(client)  # no data key from Vault transit: refuse to start
    workers, pools = build_workers(client, settings, secrets, AuditLog(engine), telemetry)
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
    telemetry.shutdown()
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
    except (SecretUnavailable, TelemetryError) as exc:
        print(f"backoffice worker: {exc}", file=sys.stderr)
        return 2
    return 0
