"""The floor's worker process (`python -m bench.floor_worker`): the floor workflow on
`bench-floor`, its activity on `bench-floor-activities`, built by the same functions, with the
same settings and data converter, as the product's worker."""

import asyncio
import logging
import sys

import httpx

from bench.floor import FLOOR_ACTIVITY_QUEUE, FLOOR_TASK_QUEUE, Floor, FloorActivities
from runtime.settings import Settings, SettingsError, load_settings
from runtime.telemetry import Service, start_telemetry
from runtime.temporal import check_payload_keys, connect
from runtime.vault import secret_store
from workers.build import activity_worker, sandboxed_runner, serve, workflow_worker

READY_LINE = "bench floor worker ready"
log = logging.getLogger("bench.floor_worker")


async def run_floor_worker(settings: Settings) -> None:
    secrets = secret_store(settings)
    await asyncio.to_thread(secrets.login)
    telemetry = start_telemetry(Service.WORKER, settings)  # as the product's worker
    client = await connect(settings=settings, secrets=secrets, telemetry=telemetry)
    await check_payload_keys(client)
    http = httpx.AsyncClient(timeout=settings.http_timeout_seconds)
    telemetry.instrument_http(http, "floor")
    workers = [
        workflow_worker(
            client,
            settings,
            task_queue=FLOOR_TASK_QUEUE,
            workflows=[Floor],
            runner=sandboxed_runner("bench.shape"),
        ),
        activity_worker(
            client,
            settings,
            task_queue=FLOOR_ACTIVITY_QUEUE,
            activities=[FloorActivities(http).step],
        ),
    ]
    try:
        await serve(workers, lambda: print(READY_LINE, file=sys.stderr, flush=True), log)
    finally:
        await http.aclose()
        telemetry.shutdown()


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"bench floor worker: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr)
    asyncio.run(run_floor_worker(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
