"""The stack's state file (ports, pids, tokens) and the env file local clients read.

Both hold secrets (the Vault root token, AppRole secret ids), so both are written 0600.
"""

import os
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError


class Ports(BaseModel):
    """The ports one stack runs on (all resolved: never 0)."""

    temporal: int
    temporal_ui: int
    temporal_http: int
    temporal_metrics: int
    vault: int
    sandbox: int
    api: int
    # Prometheus endpoints (0 in the state of a stack started before they existed: none).
    worker_metrics: int = 0
    api_metrics: int = 0
    # Mailpit's SMTP server and its web UI + REST API (0 in the state of an older stack).
    smtp: int = 0
    mailpit_ui: int = 0


class ProcessEntry(BaseModel):
    """One started process as recorded in the state file."""

    pid: int
    start_ticks: int | None = None
    command: list[str]
    log_file: str
    started_at: datetime


class AppRoleEntry(BaseModel):
    role_id: str
    secret_id: str


class StackState(BaseModel):
    """Everything another process needs to find, use and stop a running stack."""

    host: str
    ports: Ports
    with_worker: bool
    processes: dict[str, ProcessEntry] = {}
    vault_root_token: str = ""
    vault_storage: str = "dev"
    vault_unseal_key: str = ""  # file storage only: the single key share of `operator init`
    sandbox_admin_token: str = ""
    worker_role: AppRoleEntry | None = None
    client_role: AppRoleEntry | None = None
    started_at: datetime | None = None


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, readable by the user only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def load_state(path: Path) -> StackState | None:
    """The recorded state, or None when there is none (or it is unreadable: start afresh)."""
    try:
        return StackState.model_validate_json(path.read_text())
    except (OSError, ValidationError, ValueError):
        return None


def save_state(path: Path, state: StackState) -> None:
    write_private(path, state.model_dump_json(indent=2) + "\n")


_BARE_VALUE = re.compile(r"^[A-Za-z0-9_./:@+,=-]*$")


def dotenv_line(key: str, value: str) -> str:
    if _BARE_VALUE.match(value):
        return f"{key}={value}"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{key}="{escaped}"'


def write_env_file(path: Path, values: Mapping[str, str]) -> None:
    header = "# Written by `backoffice dev up`: settings of the local dev stack. Do not commit.\n"
    write_private(path, header + "".join(dotenv_line(k, v) + "\n" for k, v in values.items()))
