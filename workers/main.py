"""The worker process: connect, log in to Vault (fail closed), run every queue, stop gracefully."""

import asyncio
import logging
import sys

from temporalio.service import RPCError

from activities.audit import AuditLog
from domain.systems import WORKFLOW_TASK_QUEUE, System
from runtime.db import make_engine
from runtime.logs import configure_logging
from runtime.schema import DatabaseUnreachable, SchemaNotCurrent, require_current_schema
from runtime.settings import Settings, SettingsError, load_settings
from runtime.telemetry import Service, TelemetryError, start_telemetry
from runtime.temporal import TemporalUnreachable, check_payload_keys, connect
from runtime.vault import SecretStore, SecretUnavailable, VaultUnreachable, secret_store
from workers.build import serve
from workers.registry import build_workers
from workers.versioning import become_current

log = logging.getLogger("backoffice.worker")

READY_LINE = "backoffice worker ready"


class CredentialsUnreadable(SecretUnavailable):
    """The worker's AppRole cannot read a system's credentials: it must not poll."""


async def check_system_credentials(secrets: SecretStore, settings: Settings) -> None:
    """Read every system's credentials once, before polling: a worker whose AppRole cannot
    read one would fail each of that system's activities, so it refuses to start, naming the
    system and the Vault path (never a value)."""
    for system in System:
        path = system.credentials_path
        try:
            await secrets.read(path)
        except SecretUnavailable as exc:
            where = f"{settings.vault_kv_mount}/{settings.vault_prefix}/{path}"
            raise CredentialsUnreadable(
                f"cannot read the {system.value} system's credentials at {where} in Vault "
                f"({exc}): give the worker's AppRole policy read access to that path; "
                "not polling"
            ) from None


async def run_worker(settings: Settings) -> None:
    engine = make_engine(settings.resolved_database_url)
    await asyncio.to_thread(require_current_schema, engine)  # before anything else is touched
    secrets = secret_store(settings)
    await asyncio.to_thread(secrets.login)
    await check_system_credentials(secrets, settings)
    telemetry = start_telemetry(Service.WORKER, settings)  # its metrics endpoint opens here
    client = await connect(settings=settings, secrets=secrets, telemetry=telemetry)
    await check_payload_keys(client)  # no data key from Vault transit: refuse to start
    workers, pools = build_workers(client, settings, secrets, AuditLog(engine), telemetry)

    promotion: list[asyncio.Task[None]] = []

    async def current_then_ready() -> None:
        try:
            log.info(await become_current(client, settings, [w.task_queue for w in workers]))
        except (RPCError, TimeoutError) as exc:
            log.error("could not make this worker's version current: %s", exc)
        print(READY_LINE, file=sys.stderr, flush=True)
        log.info("polling %s and %d activity queues", WORKFLOW_TASK_QUEUE, len(workers) - 1)

    def ready() -> None:  # polling: the version exists once its queues have polled
        promotion.append(asyncio.create_task(current_then_ready()))

    try:
        await serve(workers, ready, log)
    finally:
        for pool in pools:
            await pool.aclose()
        engine.dispose()
        telemetry.shutdown()


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"backoffice worker: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings, service="worker")
    try:
        asyncio.run(run_worker(settings))
    except (TemporalUnreachable, VaultUnreachable, DatabaseUnreachable) as exc:
        print(f"backoffice worker: {exc}", file=sys.stderr)
        return 3  # not running (docs/operations.md)
    except (SecretUnavailable, TelemetryError, SchemaNotCurrent) as exc:
        print(f"backoffice worker: {exc}", file=sys.stderr)
        return 2
    return 0
