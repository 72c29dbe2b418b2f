"""The status table of a stack: each component running or not, its pid and address."""

from typing import TypedDict

from devstack.addresses import Addresses
from devstack.book import ProcessBook


class ComponentStatus(TypedDict):
    """One row of `Stack.status()`; `enabled` is False for a worker left out on purpose."""

    running: bool
    enabled: bool
    pid: int | None
    address: str | None


def status_rows(
    book: ProcessBook, where: Addresses | None, *, with_worker: bool
) -> dict[str, ComponentStatus]:
    """Rows for temporal, temporal-ui, vault, sandbox, mailpit (its web UI
    and REST API), smtp (the same process), api, api-metrics, worker and worker-metrics (the
    metrics rows: the same processes' Prometheus endpoints)."""
    rows: dict[str, ComponentStatus] = {}
    for row, component, address in (
        ("temporal", "temporal", where.temporal if where else None),
        ("temporal-ui", "temporal-ui", where.temporal_ui if where else None),
        ("vault", "vault", where.vault if where else None),
        ("sandbox", "sandbox", where.sandbox if where else None),
        ("mailpit", "mailpit", where.mailpit if where else None),
        ("smtp", "mailpit", where.smtp if where else None),
        ("api", "api", where.api if where else None),
        ("api-metrics", "api", where.api_metrics if where else None),
        ("worker", "worker", None),
        ("worker-metrics", "worker", where.worker_metrics if where else None),
    ):
        process = book.get(component)
        running = process is not None and process.is_running()
        rows[row] = ComponentStatus(
            running=running,
            enabled=with_worker if component == "worker" else True,
            pid=process.pid if process is not None and running else None,
            address=address,
        )
    return rows
