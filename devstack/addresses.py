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


def addresses(state: StackState, env_file: Path) -> Addresses:
    host, ports = state.host, state.ports
    return Addresses(
        temporal=f"{host}:{ports.temporal}",
        temporal_ui=f"http://{host}:{ports.temporal_ui}",
        vault=f"http://{host}:{ports.vault}",
        sandbox=f"http://{host}:{ports.sandbox}",
        api=f"http://{host}:{ports.api}",
        env_file=env_file,
    )
