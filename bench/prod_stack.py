"""The benchmark on the production shape (`backoffice bench --server prod`): temporal-server on
PostgreSQL, OpenBao in server mode (deploy/local.py), seen through what the benchmark reads of a
dev stack. The shape's own two workers are stopped: the benchmark starts its own, one process or
several (`--workers`), as on the dev server."""

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hvac
from dotenv import dotenv_values

from deploy.local import WORKERS, LocalShape
from devstack.process import stop

BENCH_ENV = {
    "BACKOFFICE_RATE_LIMITS": '{"enrichment": 100000}',
    "BACKOFFICE_LOG_LEVEL": "WARNING",
}


@dataclass(frozen=True)
class _Config:
    host: str = "127.0.0.1"


class ProdBenchStack:
    """The parts of `devstack.stack.Stack` the benchmark uses, on a LocalShape."""

    def __init__(self, data_dir: Path) -> None:
        # PostgreSQL runs as the `postgres` OS user under root: a folder it may traverse.
        folder = Path(tempfile.mkdtemp(prefix="backoffice-bench-prod-", dir=data_dir))
        folder.chmod(0o755)
        data_dir.chmod(0o755)
        self.shape = LocalShape(
            folder / "shape",
            say=lambda line: print(line, file=sys.stderr, flush=True),
            extra_env=BENCH_ENV,
        )
        self.config = _Config()

    def up(self) -> None:
        self.shape.up()
        for name in WORKERS:
            process = self.shape.process(name)
            if process is not None:
                stop(process, timeout=30)

    def down(self) -> list[str]:
        return self.shape.down()

    @property
    def env_file(self) -> Path:
        return self.shape.layout.role_env("api")

    @property
    def log_dir(self) -> Path:
        return self.shape.layout.data_dir / "logs"

    @property
    def sandbox_url(self) -> str:
        return self.shape.sandbox_url

    def client_env(self) -> dict[str, str]:
        token = self.shape.secrets()["SANDBOX_ADMIN_TOKEN"]
        return {**self.shape.client_env(), "BACKOFFICE_SANDBOX_ADMIN_TOKEN": token}

    def worker_env(self) -> dict[str, str]:
        return self.shape.worker_env(1)

    def status(self) -> dict[str, dict[str, Any]]:
        pids: dict[str, dict[str, Any]] = {}
        for name in ("temporal", "sandbox", "api"):
            process = self.shape.process(name)
            running = process is not None and process.is_running()
            pids[name] = {"pid": process.pid if process is not None and running else None}
        return pids

    def vault_root(self) -> hvac.Client:
        """Vault as the worker's AppRole (the root token is revoked in this shape): it reads
        the systems' credentials, which is what the benchmark's people need."""
        login = dotenv_values(self.shape.layout.role_env("worker"))
        client = hvac.Client(url=self.shape.vault_addr)
        client.auth.approle.login(
            role_id=login["BACKOFFICE_VAULT_ROLE_ID"], secret_id=login["BACKOFFICE_VAULT_SECRET_ID"]
        )
        return client

    def sandbox_admin(self) -> httpx.Client:
        return self.shape.sandbox_admin()
