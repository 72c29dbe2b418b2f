"""The vault-init step of docker-compose.yml, for real: OpenBao in server mode with the
compose file's own config (deploy/openbao/bao.hcl, raft storage, the file audit device), a real
sandbox, and `backoffice deploy init-vault` as the compose file runs it: the root token revoked,
one AppRole per process that reads only what it needs, placeholder secrets refused. Then a
Vault restart (sealed again) and a second run, as the next `docker compose up` would do."""

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

from backoffice.cli.deploy import ROLE_ENV_FILES, main
from deploy import vault_init
from deploy.env_check import CHECKED_SECRETS
from devstack import sandbox_server, vault_server
from devstack.ports import PortPicker
from devstack.process import ManagedProcess, spawn, stop
from devstack.vault_seed import (
    API_ROLE,
    APPROLE_MOUNT,
    CLI_ROLE,
    SCHEDULES_ROLE,
    TRANSIT_KEY,
    TRANSIT_MOUNT,
    WORKER_ROLE,
)
from tests.deploy.compose import ROOT, env_example

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
    audit_log: Path
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
    """deploy/openbao/bao.hcl with its storage path, audit file and addresses moved here; the
    rest as is."""
    text = BAO_CONFIG.read_text()
    moves = {
        '"/openbao/file"': f'"{folder / "raft"}"',
        '"/openbao/logs/audit.log"': f'"{folder / "audit.log"}"',
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
        config=_server_config(folder, port),
        addr=f"http://127.0.0.1:{port}",
        log=folder / "log",
        audit_log=folder / "audit.log",
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
    logins: Path  # <logins>/<name>/vault.env, one per role

    def env(self, role: str) -> Path:
        return self.logins / ROLE_ENV_FILES[role] / "vault.env"


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(state=tmp_path / "vault-init", logins=tmp_path / "logins")


def _arguments(vault: ServerVault, paths: Paths, sandbox: str | None, cidr: str) -> list[str]:
    argv = [
        "init-vault",
        f"--vault={vault.addr}",
        f"--state-dir={paths.state}",
        f"--audit-log={vault.audit_log}",
        f"--bind-cidr={cidr}",
        "--wait=60",
    ]
    argv += [f"--{name}-env={paths.env(role)}" for role, name in ROLE_ENV_FILES.items()]
    if sandbox:
        argv += [f"--sandbox={sandbox}", "--webhooks-to=http://api.internal:8000"]
    return argv


def _init_vault(
    vault: ServerVault,
    paths: Paths,
    sandbox: str | None,
    *,
    cidr: str = "127.0.0.0/8",
    secrets: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`backoffice deploy init-vault` as the compose file's vault-init service runs it."""
    argv = [
        sys.executable,
        "-m",
        "backoffice.cli",
        "deploy",
        *_arguments(vault, paths, sandbox, cidr),
    ]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(paths.state.parent),
        "SANDBOX_ADMIN_TOKEN": ADMIN_TOKEN,
        **(secrets or {}),
    }
    return subprocess.run(
        argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False
    )


def _init_in_process(
    vault: ServerVault, paths: Paths, monkeypatch: pytest.MonkeyPatch, *, revoke: bool = True
) -> str:
    """The same step in this process, keeping the root token it revokes (or, `revoke=False`,
    stopping just before it does, as a crash there would)."""
    seen: dict[str, str] = {}
    original = vault_init._revoke_root

    def spy(root: hvac.Client, plan: Any, keys: dict[str, Any], say: Any) -> None:
        seen["root"] = keys["root_token"]
        if revoke:
            original(root, plan, keys, say)

    monkeypatch.setattr(vault_init, "_revoke_root", spy)
    monkeypatch.setenv("SANDBOX_ADMIN_TOKEN", ADMIN_TOKEN)
    assert main(_arguments(vault, paths, None, "127.0.0.0/8")) == 0
    monkeypatch.undo()
    return seen["root"]


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


def _data_key(client: hvac.Client) -> str:
    return client.secrets.transit.generate_data_key(
        name=TRANSIT_KEY, key_type="wrapped", mount_point=TRANSIT_MOUNT
    )["data"]["ciphertext"]


def test_init_unseals_seeds_and_hands_out_only_approle_logins(vault, sandbox, paths):
    done = _init_vault(vault, paths, sandbox)

    assert done.returncode == 0, done.stdout + done.stderr
    assert vault.health() == 200  # initialised, unsealed, active
    assert "root_token" not in json.loads((paths.state / "unseal.json").read_text())
    for role in ROLE_ENV_FILES:
        env_file = paths.env(role)
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        assert set(dotenv_values(env_file)) == {
            "BACKOFFICE_VAULT_ROLE_ID",
            "BACKOFFICE_VAULT_SECRET_ID",
        }
    logins = {
        role: dotenv_values(paths.env(role))["BACKOFFICE_VAULT_ROLE_ID"] for role in ROLE_ENV_FILES
    }
    assert len(set(logins.values())) == 4, "each process has a role of its own"

    worker = _login(vault, paths.env(WORKER_ROLE))
    erp = _read(worker, "systems/erp")
    assert _data_key(worker).startswith("vault:v1:")

    # The sandbox took the credentials just seeded, and sends its webhooks to the API.
    with httpx.Client(base_url=sandbox, trust_env=False, timeout=10) as http:
        assert http.get("/erp/vendors", auth=(erp["username"], erp["password"])).status_code == 200
        assert http.get("/erp/vendors", auth=(erp["username"], "wrong")).status_code == 401
        targets = http.get("/_admin/webhooks", headers={"X-Admin-Token": ADMIN_TOKEN}).json()
    assert {t["url"] for t in targets["targets"]} >= {"http://api.internal:8000/webhooks/crm"}
    credentials = json.loads((paths.state / "credentials.json").read_text())
    api = _login(vault, paths.env(API_ROLE))
    assert credentials["codec_token"] == _read(api, "codec/token")["token"]
    assert stat.S_IMODE((paths.state / "credentials.json").stat().st_mode) == 0o600


# What each process reads (docs/security.md), and a sample of what it must not.
READS = {
    WORKER_ROLE: [
        "systems/erp",
        "systems/mail",
        "systems/slack",
        "directory/approvers",
        "links/signing-key",
    ],
    API_ROLE: [
        "directory/approvers",
        "webhooks/crm",
        "webhooks/slack",
        "systems/slack",
        "codec/token",
        "api-clients/svc-reader",
        "approver-credentials/pat",
        "links/signing-key",
    ],
    SCHEDULES_ROLE: [],
    CLI_ROLE: ["directory/approvers"],
}
DENIED = {
    WORKER_ROLE: ["codec/token", "api-clients/svc-reader", "approver-credentials/pat"],
    API_ROLE: ["systems/erp", "systems/mail"],
    SCHEDULES_ROLE: [
        "api-clients/svc-reader",
        "approver-credentials/pat",
        "systems/erp",
        "directory/approvers",
        "links/signing-key",
        "codec/token",
        "webhooks/crm",
    ],
    CLI_ROLE: [
        "approver-credentials/pat",
        "api-clients/svc-reader",
        "systems/erp",
        "links/signing-key",
        "codec/token",
        "webhooks/crm",
    ],
}


def test_each_role_reads_what_it_needs_and_is_denied_the_rest(vault, paths):
    assert _init_vault(vault, paths, None).returncode == 0

    for role in ROLE_ENV_FILES:
        client = _login(vault, paths.env(role))
        for path in READS[role]:
            assert _read(client, path), f"{role} cannot read {path}"
        assert _data_key(client).startswith("vault:v1:"), role  # every process seals payloads
        for path in DENIED[role]:
            with pytest.raises(Forbidden):
                _read(client, path)
            # 403, not 404: the path exists, the role may not read it.


def test_the_root_token_is_revoked_and_vault_audits_every_request(vault, paths, monkeypatch):
    root_token = _init_in_process(vault, paths, monkeypatch)

    with pytest.raises(Forbidden):
        hvac.Client(url=vault.addr, token=root_token).auth.token.lookup_self()
    assert "root_token" not in json.loads((paths.state / "unseal.json").read_text())
    # The step keeps a narrow role of its own: it sees the roles, not the secrets.
    init = vault_init._admin_client(
        vault_init.InitPlan(vault_addr=vault.addr, state_dir=paths.state, env_files={}),
        json.loads((paths.state / "unseal.json").read_text()),
    )
    with pytest.raises(Forbidden):
        _read(init, "systems/erp")
    cli_role = init.auth.approle.read_role(role_name=CLI_ROLE, mount_point=APPROLE_MOUNT)["data"]
    assert cli_role["secret_id_ttl"] == 86400
    assert cli_role["secret_id_bound_cidrs"] == ["127.0.0.0/8"]
    assert cli_role["token_bound_cidrs"] == ["127.0.0.0/8"]

    api = _login(vault, paths.env(API_ROLE))
    _read(api, "codec/token")
    entries = [json.loads(line) for line in vault.audit_log.read_text().splitlines()]
    paths_seen = {e.get("request", {}).get("path") for e in entries}
    assert "secret/data/backoffice/codec/token" in paths_seen
    assert "auth/token/revoke-self" in paths_seen
    codec_answers = [
        e
        for e in entries
        if e["type"] == "response" and e["request"]["path"] == "secret/data/backoffice/codec/token"
    ]
    token = _read(api, "codec/token")["token"]
    assert codec_answers and token not in vault.audit_log.read_text(), "secrets are HMAC'd"


def test_logins_are_bound_to_the_network_given(vault, paths):
    done = _init_vault(vault, paths, None, cidr="192.0.2.0/24")  # not where this test runs

    assert done.returncode == 0, done.stdout + done.stderr
    values = dotenv_values(paths.env(WORKER_ROLE))
    with pytest.raises(hvac.exceptions.VaultError):
        hvac.Client(url=vault.addr).auth.approle.login(
            role_id=values["BACKOFFICE_VAULT_ROLE_ID"],
            secret_id=values["BACKOFFICE_VAULT_SECRET_ID"],
        )


def test_the_env_examples_placeholders_are_refused_and_nothing_is_written(vault, paths):
    placeholders = {name: env_example()[name] for name in CHECKED_SECRETS}

    done = _init_vault(vault, paths, None, secrets=placeholders)

    assert done.returncode == 2
    for name in CHECKED_SECRETS:
        assert f"{name} still has the placeholder value" in done.stderr
    assert "nothing was written" in done.stderr
    assert not paths.state.exists()
    assert not paths.logins.exists()
    assert hvac.Client(url=vault.addr).sys.is_initialized() is False


def test_a_short_secret_is_refused_naming_it(vault, paths):
    done = _init_vault(vault, paths, None, secrets={"BACKOFFICE_DB_PASSWORD": "s3cret-but-short"})

    assert done.returncode == 2
    assert "BACKOFFICE_DB_PASSWORD is 16 characters long; use at least 20" in done.stderr
    assert not paths.state.exists()
    assert hvac.Client(url=vault.addr).sys.is_initialized() is False


def test_the_next_up_unseals_again_and_keeps_what_was_seeded(vault, sandbox, paths):
    assert _init_vault(vault, paths, sandbox).returncode == 0
    first_worker = dotenv_values(paths.env(WORKER_ROLE))
    first_cli = dotenv_values(paths.env(CLI_ROLE))
    erp_before = _read(_login(vault, paths.env(WORKER_ROLE)), "systems/erp")
    vault.stop()
    vault.start()
    assert vault.health() == 503  # sealed after the restart

    done = _init_vault(vault, paths, sandbox)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "already seeded" in done.stdout
    assert vault.health() == 200
    assert dotenv_values(paths.env(WORKER_ROLE)) == first_worker
    assert _read(_login(vault, paths.env(WORKER_ROLE)), "systems/erp") == erp_before
    # The short-lived CLI login is a new one at every run.
    cli = dotenv_values(paths.env(CLI_ROLE))
    assert cli["BACKOFFICE_VAULT_SECRET_ID"] != first_cli["BACKOFFICE_VAULT_SECRET_ID"]
    assert _read(_login(vault, paths.env(CLI_ROLE)), "directory/approvers")


def test_a_run_stopped_before_the_revocation_finishes_it_and_renews_a_dead_login(
    vault, paths, monkeypatch
):
    root_token = _init_in_process(vault, paths, monkeypatch, revoke=False)
    old = dotenv_values(paths.env(WORKER_ROLE))
    root = hvac.Client(url=vault.addr, token=root_token)
    root.auth.approle.destroy_secret_id(
        role_name=WORKER_ROLE,
        secret_id=old["BACKOFFICE_VAULT_SECRET_ID"],
        mount_point=APPROLE_MOUNT,
    )

    done = _init_vault(vault, paths, None)

    assert done.returncode == 0, done.stdout + done.stderr
    new = dotenv_values(paths.env(WORKER_ROLE))
    assert new["BACKOFFICE_VAULT_SECRET_ID"] != old["BACKOFFICE_VAULT_SECRET_ID"]
    assert _read(_login(vault, paths.env(WORKER_ROLE)), "systems/erp")
    with pytest.raises(Forbidden):
        root.auth.token.lookup_self()


def test_a_vault_initialised_elsewhere_is_refused_and_nothing_written(vault, paths, tmp_path):
    assert _init_vault(vault, paths, None).returncode == 0
    stranger = Paths(state=tmp_path / "other-init", logins=tmp_path / "other")

    done = _init_vault(vault, stranger, None)

    assert done.returncode == 1
    assert "is initialised, but not by this step" in done.stderr
    assert str(stranger.state / "unseal.json") in done.stderr
    assert not stranger.logins.exists()
