"""The Temporal dev server: its command line and when it counts as ready."""

import asyncio
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from devstack.aio import run_sync
from domain.contract import SEARCH_ATTRIBUTES as SEARCH_ATTRIBUTES  # the tests import it here too

NAMESPACE = "default"


def server_command(
    cli: Path,
    *,
    host: str,
    port: int,
    http_port: int,
    metrics_port: int,
    db_file: Path,
) -> list[str]:
    """`temporal server start-dev` on loopback, state in `db_file` so a restart loses nothing.
    Headless: the Web UI is a component of its own (devstack/temporal_ui.py)."""
    argv = [
        str(cli), "server", "start-dev",
        "--headless",
        "--ip", host,
        "--port", str(port),
        "--http-port", str(http_port),
        "--metrics-port", str(metrics_port),
        "--db-filename", str(db_file),
        # Write-ahead log, fsync at checkpoints: a third less server CPU per run than SQLite's
        # defaults and ~1.6x the throughput (docs/performance.md); a crash of the server loses
        # nothing committed, a power cut at most the last transactions.
        "--sqlite-pragma", "journal_mode=wal",
        "--sqlite-pragma", "synchronous=normal",
        "--log-level", "warn",
        # Worker Versioning (docs/deploying.md), on whatever this server's defaults; a draining
        # version's status is refreshed within seconds (the server's default: minutes).
        "--dynamic-config-value", "system.enableDeploymentVersions=true",
        "--dynamic-config-value", "frontend.workerVersioningWorkflowAPIs=true",
        "--dynamic-config-value", 'matching.wv.VersionDrainageStatusRefreshInterval="5s"',
        "--dynamic-config-value", 'matching.wv.VersionDrainageStatusVisibilityGracePeriod="5s"',
    ]  # fmt: skip
    for name, kind in SEARCH_ATTRIBUTES.items():
        argv += ["--search-attribute", f"{name}={kind}"]
    return argv


async def _missing_search_attributes(address: str) -> str | None:
    client = await asyncio.wait_for(Client.connect(address, namespace=NAMESPACE), timeout=5)
    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=NAMESPACE), timeout=timedelta(seconds=5)
    )
    registered = dict(response.custom_attributes)
    missing = [
        name
        for name, kind in SEARCH_ATTRIBUTES.items()
        if registered.get(name) != IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper()}")
    ]
    return f"search attributes not registered: {', '.join(missing)}" if missing else None


def probe(address: str) -> str | None:
    """None when a client connects and namespace `default` has every search attribute."""
    try:
        return run_sync(lambda: _missing_search_attributes(address))
    except Exception as exc:  # not up yet: connection refused, RPC unavailable, timeout
        return f"{type(exc).__name__}: {exc}".strip()[:200]
