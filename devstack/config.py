"""What a dev stack looks like: data dir, loopback host, ports (0 = pick a free one), options."""

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from devstack.paths import StackPaths

# Keys the stack itself writes; `extra_env` may not change them.
STACK_ENV_KEYS = frozenset(
    {
        "TEMPORAL_ADDRESS",
        "TEMPORAL_NAMESPACE",
        "BACKOFFICE_DATA_DIR",
        "BACKOFFICE_ENV_FILE",
        "BACKOFFICE_VAULT_ADDR",
        "BACKOFFICE_VAULT_ROLE_ID",
        "BACKOFFICE_VAULT_SECRET_ID",
        "BACKOFFICE_SANDBOX_URL",
        "BACKOFFICE_SANDBOX_ADMIN_TOKEN",
        "BACKOFFICE_TEMPORAL_UI_URL",
        "BACKOFFICE_DATABASE_URL",
        "BACKOFFICE_API_URL",
        "BACKOFFICE_WORKER_METRICS_ADDRESS",
        "BACKOFFICE_API_METRICS_ADDRESS",
    }
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class StackConfig(BaseModel):
    """Settings of one local stack. Two stacks with different data dirs and ports coexist."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path = Path(".data")
    host: str = "127.0.0.1"
    temporal_port: int = Field(default=7233, ge=0, le=65535)
    temporal_ui_port: int = Field(default=8233, ge=0, le=65535)
    temporal_http_port: int = Field(default=0, ge=0, le=65535)
    temporal_metrics_port: int = Field(default=0, ge=0, le=65535)
    vault_port: int = Field(default=8200, ge=0, le=65535)
    sandbox_port: int = Field(default=8400, ge=0, le=65535)
    api_port: int = Field(default=8000, ge=0, le=65535)
    # The Prometheus endpoints of the worker and the API (0: a free port, kept across restarts).
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    api_metrics_port: int = Field(default=0, ge=0, le=65535)
    # Mailpit: the SMTP server the worker sends mail to, and its web UI + REST API.
    smtp_port: int = Field(default=1025, ge=0, le=65535)
    mailpit_ui_port: int = Field(default=8025, ge=0, le=65535)
    with_worker: bool = True
    # "dev": OpenBao in dev mode (in memory, unsealed, seeded again at every start, with the
    # same credentials: devstack.seed_record); "file": server
    # mode on file storage in data_dir, initialized once, unsealed after each start, so a
    # restart keeps its secrets (what the reliability suite seals, stops and restarts).
    vault_storage: Literal["dev", "file"] = "dev"
    extra_env: dict[str, str] = {}
    ui_codec_endpoint: str | None = None
    # SQLAlchemy URLs of the app's and the sandbox's databases; None: SQLite files in data_dir.
    database_url: str | None = None
    sandbox_database_url: str | None = None
    start_timeout_seconds: float = Field(default=60.0, gt=0)
    worker_ready_timeout_seconds: float = Field(default=60.0, gt=0)
    stop_timeout_seconds: float = Field(default=10.0, gt=0)
    # The worker drains in-flight activities on SIGTERM; give it longer before the SIGKILL.
    worker_stop_timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("extra_env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k in value if not _ENV_NAME.match(k)]
        if bad:
            raise ValueError(f"not environment variable names: {', '.join(bad)}")
        taken = sorted(STACK_ENV_KEYS.intersection(value))
        if taken:
            raise ValueError(f"set by the stack itself, cannot be overridden: {', '.join(taken)}")
        return value

    @field_validator("ui_codec_endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL, e.g. http://127.0.0.1:8000/codec")
        return value

    @field_validator("database_url", "sandbox_database_url")
    @classmethod
    def _sqlalchemy_url(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                make_url(value)
            except ArgumentError:
                raise ValueError(
                    "must be an SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db"
                ) from None
        return value

    @property
    def paths(self) -> StackPaths:
        return StackPaths(self.data_dir)

    @property
    def resolved_database_url(self) -> str:
        """What the API and the worker get as BACKOFFICE_DATABASE_URL."""
        return self.database_url or f"sqlite:///{self.paths.backoffice_db}"

    @property
    def resolved_sandbox_database_url(self) -> str:
        """What the sandbox gets as its database URL."""
        return self.sandbox_database_url or f"sqlite:///{self.paths.sandbox_db}"
