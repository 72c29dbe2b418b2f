"""The vault-init step of docker-compose.yml, for real: OpenBao in server mode with the
compose file's own config (deploy/openbao/bao.hcl, raft storage), a real sandbox, and
`backoffice deploy init-vault` as the compose file runs it. Then a Vault restart (sealed again)
and a second run, as the next `docker compose up` would do."""

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hvac
import pytest
from dotenv import dotenv_values
from hvac.exceptions import Forbidden

from devstack import sandbox_server, vault_server
from devstack.ports import PortPicker
from devstack.process import ManagedProcess, spawn, stop
from devstack.vault_seed import APPROLE_MOUNT, TRANSIT_KEY, TRANSIT_MOUNT, WORKER_ROLE
from tests.deploy.compose import ROOT

BAO_CONFIG = ROOT / "deploy" / "openbao" / "bao.hcl"
ADMIN_TOKEN = "sandbox-admin-for-the-vault-init-test"


def _wait(probe, what: str, process: ManagedProcess, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while (problem := probe()) is not None:
        if not process.is_running():
            pytest.fail(f"{what} exited:\n{process.log_tail(40)}", pytrace=False)
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not ready: {problem}\n{process.log_tail(40)}", pytrace=False)
        time.sleep(0.3)


@dataclass
class ServerVault:
    """OpenBao started with the compose file's config, moved to a temp dir and free ports."""

    config: Path
    addr: str
    log: Path
    process: ManagedProcess | None = None

    def start(self) -> None:
        argv = [str(vault_server.find_bao()), "server", f"-config={self.config}"]
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.config.parent)}
        self.process = spawn("vault", argv, log_file=self.log, env=env, cwd=self.config.parent)
        url = f"{self.addr}/v1/sys/health?uninitcode=200&sealedcode=200&standbycode=200"

        def answers() -> str | None:
            try:
                code = httpx.get(url, timeout=2, trust_env=False).status_code
            except httpx.HTTPError as exc:
                return str(exc)
            return None if code == 200 else f"health {code}"

        _wait(answers, "OpenBao (server mode)", self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, timeout=20)
            self.process = None

    def health(self) -> int:
        return httpx.get(f"{self.addr}/v1/sys/health", timeout=5, trust_env=False).status_code


def _server_config(folder: Path, port: int) -> Path:
    """deploy/openbao/bao.hcl with its storage path and addresses moved here; the rest as is."""
    text = BAO_CONFIG.read_text()
    moves = {
        '"/openbao/file"': f'"{folder / "raft"}"',
        '"0.0.0.0:8200"': f'"127.0.0.1:{port}"',
        '"0.0.0.0:8201"': f'"127.0.0.1:{port + 1}"',
        '"http://vault:8200"': f'"http://127.0.0.1:{port}"',
        '"http://vault:8201"': f'"http://127.0.0.1:{port + 1}"',
    }
    for old, new in moves.items():
        assert text.count(old) == 1, f"bao.hcl no longer has {old} once"
        text = text.replace(old, new)
    (folder / "raft").mkdir()
    path = folder / "bao.hcl"
    path.write_text(text)
    return path


@pytest.fixture
def ports() -> Iterator[PortPicker]:
    with PortPicker("127.0.0.1") as picker:
        yield picker


@pytest.fixture
def vault(tmp_path: Path, ports: PortPicker) -> Iterator[ServerVault]:
    port = ports.pick(also_free_above=1)
    ports.close()  # free the held sockets for the server
    folder = tmp_path / "vault"
    folder.mkdir()
    server = ServerVault(
        config=_server_config(folder, port), addr=f"http://127.0.0.1:{port}", log=folder / "log"
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[str]:
    with PortPicker("127.0.0.1") as picker:
        port = picker.pick()
    argv = sandbox_server.server_command(
        host="127.0.0.1", port=port, database_url=f"sqlite:///{tmp_path / 'sandbox.db'}"
    )
    env = {**os.environ, "SANDBOX_ADMIN_TOKEN": ADMIN_TOKEN, "PYTHONUNBUFFERED": "1"}
    process = spawn("sandbox", argv, log_file=tmp_path / "sandbox.log", env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: sandbox_server.probe(url), "the sandbox", process)
        yield url
    finally:
        stop(process, timeout=10)


@dataclass(frozen=True)
class Paths:
    state: Path
    worker_env: Path
    client_env: Path


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(
        state=tmp_path / "vault-init",
        worker_env=tmp_path / "worker" / "vault.env",
        client_env=tmp_path / "client" / "vault.env",
    )


def _init_vault(
    vault: ServerVault, paths: Paths, sandbox: str | None
) -> subprocess.CompletedProcess[str]:
    """`backoffice deploy init-vault` as the compose file's vault-init service runs it."""
    argv = [
        sys.executable,
        "-m",
        "backoffice.cli",
        "deploy",
        "init-vault",
        f"--vault={vault.addr}",
        f"--state-dir={paths.state}",
        f"--worker-env={paths.worker_env}",
        f"--client-env={paths.client_env}",
        "--wait=60",
    ]
    if sandbox:
        argv += [f"--sandbox={sandbox}", "--webhooks-to=http://api.internal:8000"]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(paths.state.parent),
        "SANDBOX_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    return subprocess.run(
        argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False
    )


def _login(vault: ServerVault, env_file: Path) -> hvac.Client:
    values = dotenv_values(env_file)
    client = hvac.Client(url=vault.addr)
    client.auth.approle.login(
        role_id=values["BACKOFFICE_VAULT_ROLE_ID"], secret_id=values["BACKOFFICE_VAULT_SECRET_ID"]
    )
    return client


def _read(client: hvac.Client, path: str) -> dict[str, Any]:
    return client.secrets.kv.v2.read_secret_version(
        path=f"backoffice/{path}", mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"]


def test_init_unseals_seeds_and_hands_out_only_approle_logins(vault, sandbox, paths):
    done = _init_vault(vault, paths, sandbox)

    assert done.returncode == 0, done.stdout + done.stderr
    assert vault.health() == 200  # initialised, unsealed, active
    root_token = json.loads((paths.state / "unseal.json").read_text())["root_token"]
    for env_file in (paths.worker_env, paths.client_env):
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        assert set(dotenv_values(env_file)) == {
            "BACKOFFICE_VAULT_ROLE_ID",
            "BACKOFFICE_VAULT_SECRET_ID",
        }
        assert root_token not in env_file.read_text()
    assert root_token not in done.stdout + done.stderr

    worker = _login(vault, paths.worker_env)
    erp = _read(worker, "systems/erp")
    assert worker.secrets.transit.generate_data_key(
        name=TRANSIT_KEY, key_type="wrapped", mount_point=TRANSIT_MOUNT
    )["data"]["ciphertext"].startswith("vault:v1:")
    with pytest.raises(Forbidden):
        _read(worker, "codec/token")
    api = _login(vault, paths.client_env)
    codec_token = _read(api, "codec/token")["token"]
    with pytest.raises(Forbidden):
        _read(api, "systems/erp")

    # The sandbox took the credentials just seeded, and sends its webhooks to the API.
    with httpx.Client(base_url=sandbox, trust_env=False, timeout=10) as http:
        assert http.get("/erp/vendors", auth=(erp["username"], erp["password"])).status_code == 200
        assert http.get("/erp/vendors", auth=(erp["username"], "wrong")).status_code == 401
        targets = http.get("/_admin/webhooks", headers={"X-Admin-Token": ADMIN_TOKEN}).json()
    assert {t["url"] for t in targets["targets"]} >= {"http://api.internal:8000/webhooks/crm"}
    credentials = json.loads((paths.state / "credentials.json").read_text())
    assert credentials["codec_token"] == codec_token
    assert stat.S_IMODE((paths.state / "credentials.json").stat().st_mode) == 0o600


def test_the_next_up_unseals_again_and_keeps_what_was_seeded(vault, sandbox, paths):
    assert _init_vault(vault, paths, sandbox).returncode == 0
    first_login = dotenv_values(paths.worker_env)
    erp_before = _read(_login(vault, paths.worker_env), "systems/erp")
    vault.stop()
    vault.start()
    assert vault.health() == 503  # sealed after the restart

    done = _init_vault(vault, paths, sandbox)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "already seeded" in done.stdout
    assert vault.health() == 200
    assert dotenv_values(paths.worker_env) == first_login
    assert _read(_login(vault, paths.worker_env), "systems/erp") == erp_before


def test_a_login_that_stopped_working_is_renewed(vault, paths):
    assert _init_vault(vault, paths, None).returncode == 0
    old = dotenv_values(paths.worker_env)
    root = hvac.Client(
        url=vault.addr, token=json.loads((paths.state / "unseal.json").read_text())["root_token"]
    )
    root.auth.approle.destroy_secret_id(
        role_name=WORKER_ROLE,
        secret_id=old["BACKOFFICE_VAULT_SECRET_ID"],
        mount_point=APPROLE_MOUNT,
    )

    done = _init_vault(vault, paths, None)

    assert done.returncode == 0, done.stdout + done.stderr
    new = dotenv_values(paths.worker_env)
    assert new["BACKOFFICE_VAULT_SECRET_ID"] != old["BACKOFFICE_VAULT_SECRET_ID"]
    assert _read(_login(vault, paths.worker_env), "systems/erp")


def test_a_vault_initialised_elsewhere_is_refused_and_nothing_written(vault, paths, tmp_path):
    assert _init_vault(vault, paths, None).returncode == 0
    stranger = Paths(
        state=tmp_path / "other-init",
        worker_env=tmp_path / "other" / "worker.env",
        client_env=tmp_path / "other" / "client.env",
    )

    done = _init_vault(vault, stranger, None)

    assert done.returncode == 1
    assert "is initialised, but not by this step" in done.stderr
    assert str(stranger.state / "unseal.json") in done.stderr
    assert not stranger.worker_env.exists()
    assert not stranger.client_env.exists()
