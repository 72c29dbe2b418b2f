"""Where a stack's components answer, derived from its host and ports."""

from dataclasses import dataclass
from pathlib import Path

from devstack.state import StackState


@dataclass(frozen=True)
class Addresses:
    """Where a running stack answers."""

    temporal: str
    temporal_ui: str
    vault: str
    sandbox: str
    api: str
    env_file: Path
    # Prometheus endpoints (URLs of /metrics), None for a stack started before they existed.
    worker_metrics: str | None = None
    api_metrics: str | None = None
    # Mailpit: its SMTP server (`host:port`) and its web UI + REST API; None for an older stack.
    smtp: str | None = None
    mailpit: str | None = None


def addresses(state: StackState, env_file: Path) -> Addresses:
    host, ports = state.host, state.ports
    return Addresses(
        temporal=f"{host}:{ports.temporal}",
        temporal_ui=f"http://{host}:{ports.temporal_ui}",
        vault=f"http://{host}:{ports.vault}",
        sandbox=f"http://{host}:{ports.sandbox}",
        api=f"http://{host}:{ports.api}",
        env_file=env_file,
        worker_metrics=_metrics_url(host, ports.worker_metrics),
        api_metrics=_metrics_url(host, ports.api_metrics),
        smtp=f"{host}:{ports.smtp}" if ports.smtp else None,
        mailpit=f"http://{host}:{ports.mailpit_ui}" if ports.mailpit_ui else None,
    )


def metrics_address(host: str, port: int) -> str | None:
    """The `host:port` a process serves Prometheus metrics on (port 0: none)."""
    return f"{host}:{port}" if port else None


def _metrics_url(host: str, port: int) -> str | None:
    address = metrics_address(host, port)
    return f"http://{address}/metrics" if address else None
