"""The local stack as one object: `Stack(config).up()`, `.down()`, `.status()`, `.restart(name)`
and the handles tests need (client env, API credentials, Vault root client, sandbox admin
client, worker and Temporal restarts).

`up()` on a partly running stack starts only what is down and keeps what runs (same pids);
seeding keeps its credentials (`devstack.seed_record`), so API keys, approver passwords, the
codec token and the AppRole logins stay the same across restarts of any component.

State lives in `<data_dir>/devstack/state.json`, so a `Stack` built in another process (the
CLI's `down`, a test) finds and stops what `up` started.
"""

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import hvac

from devstack import (
    api_server,
    launch,
    mailpit,
    sandbox_server,
    temporal_server,
    temporal_ui,
    vault_file,
    vault_server,
    worker_process,
)
from devstack.addresses import Addresses, addresses
from devstack.book import ProcessBook
from devstack.config import StackConfig
from devstack.environment import client_env, inherited_env
from devstack.errors import StackError, StackNotRunning
from devstack.paths import StackPaths, project_root
from devstack.ports import resolve_ports
from devstack.readiness import component_error, wait_ready
from devstack.seed_record import remember_system
from devstack.state import AppRoleEntry, Ports, StackState, write_env_file, write_private
from devstack.status import ComponentStatus, status_rows
from devstack.temporal_cli import find_temporal_cli
from devstack.vault_seed import (
    APPROLE_MOUNT,
    CLIENT_ROLE,
    WORKER_ROLE,
    ApiCredentials,
    save_link_keys,
    save_transit_backup,
    seed,
    slack_people,
    vault_client,
)
from domain import codec_tickets
from domain.systems import System
from runtime.schema import DatabaseNotReady, upgrade_schema

__all__ = ["Addresses", "ComponentStatus", "Stack", "StackConfig"]

# Start order; stopping goes the other way.
COMPONENTS = ("temporal", "temporal-ui", "vault", "sandbox", "mailpit", "api", "worker")
NOT_SEEDED = "the dev stack's Vault is not seeded: run `backoffice dev up`"

Say = Callable[[str], None]


@dataclass(frozen=True)
class UpReport:
    """What the last `up()` did: the components it found running (kept) and those it started."""

    kept: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Stack:
    """Starts, inspects and stops one local stack (one data dir)."""

    def __init__(self, config: StackConfig | None = None, *, say: Say = _to_stderr) -> None:
        self.config = config or StackConfig()
        self.paths: StackPaths = self.config.paths
        self._say = say
        self._book = ProcessBook(self.paths.state_file)
        self.last_up = UpReport()

    # ----- where things are ------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self.paths.data_dir

    @property
    def env_file(self) -> Path:
        return self.paths.env_file

    @property
    def state_file(self) -> Path:
        return self.paths.state_file

    @property
    def log_dir(self) -> Path:
        return self.paths.log_dir

    @property
    def addresses(self) -> Addresses:
        return addresses(self._book.require(), self.env_file)

    @property
    def ports(self) -> Ports:
        return self._book.require().ports

    @property
    def temporal_address(self) -> str:
        return self.addresses.temporal

    @property
    def temporal_ui_url(self) -> str:
        return self.addresses.temporal_ui

    @property
    def vault_addr(self) -> str:
        return self.addresses.vault

    @property
    def sandbox_url(self) -> str:
        return self.addresses.sandbox

    @property
    def api_url(self) -> str:
        return self.addresses.api

    @property
    def mailpit_url(self) -> str:
        """Mailpit's web UI and REST API: every email the stack sent."""
        url = self.addresses.mailpit
        if url is None:
            raise StackError("this dev stack was started without mailpit: run `backoffice dev up`")
        return url

    @property
    def credentials_file(self) -> Path:
        return self.paths.credentials_file

    def api_log_path(self) -> Path:
        """The API's log file (appended to by every start)."""
        return self.paths.log_file("api")

    def worker_log_path(self) -> Path:
        """The worker's log file (appended to by every start)."""
        return self.paths.log_file("worker")

    def log_path(self, component: str) -> Path:
        """The log file of one component (appended to by every start)."""
        if component not in COMPONENTS:
            raise StackError(f"unknown component {component!r}: one of {', '.join(COMPONENTS)}")
        return self.paths.log_file(component)

    def worker_command(self) -> list[str]:
        """The worker's command line (run it with `worker_env()` to start one by hand)."""
        return worker_process.worker_command()

    # ----- whole stack -----------------------------------------------------------------------

    def _with_worker(self) -> bool:
        state = self._book.state
        return state.with_worker if state is not None else self.config.with_worker

    def is_running(self) -> bool:
        """True when every enabled component runs."""
        self._book.reload()
        return self._book.state is not None and all(
            self._book.is_running(name)
            for name in COMPONENTS
            if name != "worker" or self._with_worker()
        )

    def up(self) -> Addresses:
        """Start what is not running and keep what is (no-op when all run); returns where they
        answer. `last_up` says which components were kept and which were started."""
        self._book.reload()
        if self._book.state is not None and any(self._book.is_running(n) for n in COMPONENTS):
            return self._start_missing()
        self._stop_all()  # leftovers of a stack that half died
        cli = find_temporal_cli(self._say)
        ui_server = temporal_ui.find_ui_server(self._say)
        bao = vault_server.find_bao()
        mailpit_binary = mailpit.find_mailpit(self._say)
        self.paths.create_dirs()
        previous = self._book.state
        kept_vault = self._kept_vault(previous)
        self._book.state = StackState(
            host=self.config.host,
            ports=resolve_ports(
                self.config,
                previous.ports if previous and previous.host == self.config.host else None,
            ),
            with_worker=self.config.with_worker,
            vault_root_token=kept_vault[0] if kept_vault else secrets.token_urlsafe(24),
            vault_storage=self.config.vault_storage,
            vault_unseal_key=kept_vault[1] if kept_vault else "",
            sandbox_admin_token=secrets.token_urlsafe(24),
            started_at=datetime.now(UTC),
        )
        self._book.save()
        try:
            self._start_servers(cli, ui_server, bao)
            self._seed()
            self._start_mailpit(mailpit_binary)
            write_env_file(self.env_file, self.client_env())
            self._migrate()
            self._start_api()
            if self.config.with_worker:
                self.start_worker()
                self._create_schedules()
        except BaseException:
            self._stop_all()
            raise
        self.last_up = UpReport(started=[n for n in COMPONENTS if self._book.is_running(n)])
        return self.addresses

    def _start_missing(self) -> Addresses:
        """Start the components that are down, on the ports and with the credentials of the
        running ones; those running keep their pids."""
        state = self._book.require()
        worker_runs = self._book.is_running("worker")
        if state.with_worker != (self.config.with_worker or worker_runs):
            state.with_worker = self.config.with_worker or worker_runs
            self._book.save()
        kept = [name for name in COMPONENTS if self._book.is_running(name)]
        missing = [
            name
            for name in COMPONENTS
            if name not in kept and (name != "worker" or state.with_worker)
        ]
        self.last_up = UpReport(kept=kept, started=missing)
        if not missing:
            self._say(f"The dev stack in {self.data_dir} is already running.")
            return self.addresses
        self._say(f"Keeping {', '.join(kept)} (running); starting {', '.join(missing)}...")
        self._start_components(missing)
        return self.addresses

    def restart(self, name: str) -> None:
        """Stop one component and start it again, on the same ports and with the same
        credentials; the others keep running."""
        if name not in COMPONENTS:
            raise StackError(f"unknown component {name!r}: one of {', '.join(COMPONENTS)}")
        self._book.reload()
        state = self._book.require()
        if not any(self._book.is_running(n) for n in COMPONENTS):
            raise StackNotRunning(
                f"the dev stack in {self.data_dir} is not running: run `backoffice dev up`"
            )
        if name == "vault":
            self._keep_keys()
        self._say(f"Restarting {name}...")
        self._stop(name)
        if name == "worker" and not state.with_worker:
            state.with_worker = True
            self._book.save()
        self._start_components([name])

    def _start_components(self, names: Sequence[str]) -> None:
        """Start `names` (in start order) on the recorded ports; re-seed Vault (keeping every
        credential) and tell the sandbox after either of them started."""
        state = self._book.require()
        for name in names:
            self._stop(name)  # forget a dead process's entry
        # The Vault of this stack, whatever storage this command's flags would choose.
        config = self.config.model_copy(update={"vault_storage": state.vault_storage})
        if "temporal" in names:
            self._say(f"Starting the Temporal dev server on {self.temporal_address}...")
            cli = find_temporal_cli(self._say)
            self._book.record(launch.start_temporal(cli, config, state.ports))
        if "temporal-ui" in names:
            self._say(f"Starting the Temporal Web UI on {self.temporal_ui_url}...")
            ui_server = temporal_ui.find_ui_server(self._say)
            self._book.record(launch.start_temporal_ui(ui_server, config, state.ports))
        if "vault" in names:
            self._say(f"Starting OpenBao ({state.vault_storage} storage) on {self.vault_addr}...")
            bao = vault_server.find_bao()
            self._book.record(launch.start_vault(bao, config, state.ports, state.vault_root_token))
        if "sandbox" in names:
            self._say(f"Starting the sandbox on {self.sandbox_url}...")
            self._book.record(launch.start_sandbox(config, state.ports, state.sandbox_admin_token))
        if "temporal" in names:
            self._wait_temporal()
        if "temporal-ui" in names:
            self._wait("temporal-ui", lambda: temporal_ui.probe(self.temporal_ui_url))
        if "vault" in names:
            self._wait_vault()
        if "sandbox" in names:
            self._wait("sandbox", lambda: sandbox_server.probe(self.sandbox_url))
        if "vault" in names or "sandbox" in names:
            self._seed()
        if "mailpit" in names:
            self._start_mailpit(mailpit.find_mailpit(self._say))
        if "api" in names or "worker" in names:
            self._migrate()
        if "api" in names:
            if not self.env_file.exists():
                write_env_file(self.env_file, self.client_env())
            self._start_api()
        if "worker" in names:
            self.start_worker()
            self._create_schedules()

    def _start_servers(self, cli: Path, ui_server: Path, bao: Path) -> None:
        """Spawn Temporal, its Web UI, Vault and the sandbox together, then wait for each."""
        state = self._book.require()
        self._say(f"Starting the Temporal dev server ({cli}) on {self.temporal_address}...")
        self._book.record(launch.start_temporal(cli, self.config, state.ports))
        self._say(f"Starting the Temporal Web UI ({ui_server}) on {self.temporal_ui_url}...")
        self._book.record(launch.start_temporal_ui(ui_server, self.config, state.ports))
        self._say(f"Starting OpenBao ({self.config.vault_storage} storage) on {self.vault_addr}...")
        self._book.record(launch.start_vault(bao, self.config, state.ports, state.vault_root_token))
        self._say(f"Starting the sandbox on {self.sandbox_url}...")
        self._book.record(launch.start_sandbox(self.config, state.ports, state.sandbox_admin_token))
        self._wait_temporal()
        self._wait("temporal-ui", lambda: temporal_ui.probe(self.temporal_ui_url))
        self._wait_vault()
        self._wait("sandbox", lambda: sandbox_server.probe(self.sandbox_url))

    def _wait(self, name: str, probe: Callable[[], str | None], what: str = "ready") -> None:
        process = self._book.get(name)
        if process is None:
            raise StackError(f"{name} was not started")
        wait_ready(process, probe, timeout=self.config.start_timeout_seconds, what=what)

    def _wait_vault(self) -> None:
        """Until Vault answers unsealed; a file-storage Vault is initialized once and unsealed."""
        addr = self.vault_addr
        if self._file_vault():
            self._wait("vault", lambda: vault_file.listening(addr), what="answering")
            state = self._book.require()
            if not vault_file.is_initialized(addr):
                state.vault_unseal_key, state.vault_root_token = vault_file.initialize(addr)
                self._book.save()
            elif not state.vault_unseal_key:
                raise StackError(
                    f"vault: the file storage in {self.paths.vault_storage_dir} was initialized "
                    "by another stack; its unseal key is unknown (delete that folder to start "
                    "afresh)"
                )
            vault_file.unseal(addr, state.vault_unseal_key)
        self._wait("vault", lambda: vault_server.probe(addr))

    def _file_vault(self) -> bool:
        state = self._book.state
        return (state.vault_storage if state is not None else self.config.vault_storage) == "file"

    def _kept_vault(self, previous: StackState | None) -> tuple[str, str] | None:
        """A file-storage Vault keeps its root token and unseal key from one `up` to the next."""
        if (
            self.config.vault_storage == "file"
            and previous is not None
            and previous.vault_storage == "file"
            and previous.vault_unseal_key
            and self.paths.vault_storage_dir.is_dir()
        ):
            return previous.vault_root_token, previous.vault_unseal_key
        return None

    def _wait_temporal(self) -> None:
        address = self.temporal_address
        self._wait(
            "temporal",
            lambda: temporal_server.probe(address),
            what="answering with its search attributes",
        )

    def _seed(self) -> None:
        """Seed Vault (keeping what it holds or what the last seeding wrote) and give the
        sandbox the same credentials."""
        state = self._book.require()
        vault, sandbox = self._book.get("vault"), self._book.get("sandbox")
        assert vault is not None and sandbox is not None
        try:
            # A file-storage Vault keeps its keys itself: no backup to restore.
            memory = not self._file_vault()
            seeded = seed(
                self.vault_root(),
                transit_backup=self._transit_backup if memory else None,
                link_keys=self._link_keys if memory else None,
                record=self.paths.seed_record,
            )
        except Exception as exc:  # hvac and requests errors: name the component, show its log
            raise component_error(vault, f"seeding failed: {exc}") from exc
        state.worker_role = AppRoleEntry(**vars(seeded.worker))
        state.client_role = AppRoleEntry(**vars(seeded.client))
        self._book.save()
        _write_credentials(self.paths.credentials_file, seeded.api_credentials)
        smtp_login = seeded.system_credentials[System.MAIL]
        mailpit.write_auth_file(
            self.paths.mailpit_auth_file, smtp_login["username"], smtp_login["password"]
        )
        try:
            with self.sandbox_admin() as admin:
                sandbox_server.push_credentials(admin, seeded.system_credentials)
                sandbox_server.push_slack_users(admin, slack_people())
                sandbox_server.push_webhook_targets(
                    admin, self.api_url, seeded.webhook_secrets, self._say
                )
        except StackError as exc:
            raise component_error(sandbox, f"credentials push failed: {exc}") from exc

    def _start_mailpit(self, binary: Path) -> None:
        """Start mailpit with the SMTP login just seeded, and wait until its API answers."""
        self._say(f"Starting mailpit on {self.addresses.mailpit} (SMTP {self.addresses.smtp})...")
        self._book.record(launch.start_mailpit(binary, self.config, self._book.require().ports))
        self._wait("mailpit", lambda: mailpit.probe(self.mailpit_url))

    def stop_mailpit(self) -> bool:
        """Stop mailpit (SMTP down); its mailbox stays. False if it was not running."""
        self._book.reload()
        return self._stop("mailpit")

    def start_mailpit(self) -> None:
        """Start the stopped mailpit on the same ports, mailbox and login."""
        self._book.reload()
        if not self._book.is_running("mailpit"):
            self._start_mailpit(mailpit.find_mailpit(self._say))

    def set_smtp_password(self, password: str) -> None:
        """Rotate the mail system's SMTP password: in Vault, then in mailpit (restarted with
        it). A worker still holding the old one is refused once, reads Vault again, goes on."""
        kv = self.vault_root().secrets.kv.v2
        path = f"backoffice/systems/{System.MAIL.value}"
        entry = kv.read_secret_version(
            path=path, mount_point="secret", raise_on_deleted_version=True
        )
        login = {**entry["data"]["data"], "password": password}
        kv.create_or_update_secret(path=path, secret=login, mount_point="secret")
        remember_system(self.paths.seed_record, System.MAIL.value, login)
        self.stop_mailpit()
        mailpit.write_auth_file(self.paths.mailpit_auth_file, login["username"], password)
        self.start_mailpit()

    def _migrate(self) -> None:
        """Upgrade the app database's schema, as `backoffice deploy migrate` does: the API and
        the worker refuse one that is behind."""
        try:
            self._say(upgrade_schema(self.config.resolved_database_url))
        except DatabaseNotReady as exc:
            raise StackError(str(exc)) from None

    def _start_api(self) -> None:
        """Start the HTTP API with the client env and wait until /healthz answers."""
        self._say(f"Starting the API on {self.api_url} (log: {self.api_log_path()})...")
        env = {**self.client_env(), "BACKOFFICE_ENV_FILE": str(self.env_file)}
        self._book.record(launch.start_api(self.config, self._book.require().ports, env))
        self._wait("api", lambda: api_server.probe(self.api_url))

    def _create_schedules(self) -> None:
        """The daily reconciliation schedule, through the CLI (`schedules create` is idempotent),
        once a worker runs to take its runs."""
        env = inherited_env({**self.client_env(), "BACKOFFICE_ENV_FILE": str(self.env_file)})
        command = [sys.executable, "-m", "backoffice.cli", "schedules", "create"]
        done = subprocess.run(
            command,
            env=env,
            cwd=project_root(),
            capture_output=True,
            text=True,
            timeout=self.config.start_timeout_seconds,
            check=False,
        )
        if done.returncode != 0:
            problem = done.stderr.strip() or done.stdout.strip()
            raise StackError(f"`backoffice schedules create` failed: {problem}")
        self._say(done.stdout.strip())

    def down(self) -> list[str]:
        """Stop every component; returns the names of those that were running."""
        self._book.reload()
        self._keep_keys()
        return self._stop_all()

    @property
    def _transit_backup(self) -> Path:
        """The payload encryption key, kept across restarts of the in-memory Vault."""
        return self.paths.devstack_dir / "transit-payloads.backup"

    @property
    def _link_keys(self) -> Path:
        """The approve-by-link signing keys, kept so that mailed links outlive a restart."""
        return self.paths.devstack_dir / "link-signing-keys.json"

    def _keep_keys(self) -> None:
        """Back up the payload and link keys again before Vault stops: they may have rotated."""
        state = self._book.state
        if state is None or state.client_role is None or not self._book.is_running("vault"):
            return
        if state.vault_storage == "file":
            return  # kept in its storage
        try:
            save_transit_backup(self.vault_root(), self._transit_backup)
            save_link_keys(self.vault_root(), self._link_keys)
        except Exception as exc:  # hvac and requests errors: the older backup stays
            self._say(f"warning: could not back up the payload and link keys from Vault: {exc}")

    def _stop(self, name: str, *, graceful: bool = True) -> bool:
        timeout = self.config.stop_timeout_seconds
        if name == "worker":
            timeout = self.config.worker_stop_timeout_seconds
        return self._book.stop(name, timeout=timeout, graceful=graceful)

    def _stop_all(self) -> list[str]:
        stopped = [name for name in reversed(COMPONENTS) if self._stop(name)]
        # Its addresses may change at the next `up` (the credentials are seeded the same again).
        self.env_file.unlink(missing_ok=True)
        if self._book.state is not None:
            self._book.state.started_at = None
            self._book.save()
        return stopped

    def status(self) -> dict[str, ComponentStatus]:
        """Each component: running or not, enabled or not, pid and address."""
        self._book.reload()
        state = self._book.state
        where = addresses(state, self.env_file) if state is not None else None
        return status_rows(self._book, where, with_worker=self._with_worker())

    # ----- single components -----------------------------------------------------------------

    def start_worker(self) -> None:
        """Start the worker (no-op if it runs) and wait for its ready line in the log."""
        self._book.reload()
        if self._book.is_running("worker"):
            return
        self._stop("worker")
        self._say(f"Starting the worker (log: {self.worker_log_path()})...")
        process = launch.start_worker(self.paths, self.worker_env())
        self._book.record(process)
        try:
            wait_ready(
                process,
                lambda: worker_process.probe(process),
                timeout=self.config.worker_ready_timeout_seconds,
                what=f"polling (no {worker_process.READY_LINE!r} line in its log)",
            )
        except BaseException:
            self._stop("worker", graceful=False)
            raise

    def stop_worker(self, graceful: bool = True) -> bool:
        """SIGTERM the worker and wait (graceful), or SIGKILL it. False if it was not running."""
        self._book.reload()
        return self._stop("worker", graceful=graceful)

    def kill_worker(self) -> bool:
        """SIGKILL the worker, as a crash would."""
        return self.stop_worker(graceful=False)

    def restart_temporal(self) -> None:
        """Stop the Temporal dev server and start it again on the same ports and database file."""
        self.restart("temporal")

    # ----- Vault faults (file storage only: a dev-mode Vault forgets everything) -------------

    def _require_file_vault(self, what: str) -> str:
        self._book.reload()
        if not self._file_vault():
            raise StackError(
                f"{what} needs a file-storage Vault (StackConfig.vault_storage='file')"
            )
        return self.vault_addr

    def seal_vault(self) -> None:
        """Seal Vault: every request is refused until `unseal_vault()`."""
        addr = self._require_file_vault("sealing Vault")
        vault_file.seal(addr, self._book.require().vault_root_token)

    def unseal_vault(self) -> None:
        """Unseal with the stack's key and wait until Vault is active again."""
        addr = self._require_file_vault("unsealing Vault")
        vault_file.unseal(addr, self._book.require().vault_unseal_key)
        self._wait("vault", lambda: vault_server.probe(addr))

    def vault_sealed(self) -> bool:
        return vault_file.is_sealed(self.vault_addr)

    def stop_vault(self) -> bool:
        """Stop the Vault server (unreachable); its storage stays. False if it was not running."""
        self._require_file_vault("stopping Vault")
        return self._stop("vault")

    def start_vault(self) -> None:
        """Start the stopped Vault on the same port and storage, and unseal it (no re-seeding:
        the secrets, the AppRoles and the transit key are still there)."""
        self._require_file_vault("restarting Vault")
        if self._book.is_running("vault"):
            return
        state = self._book.require()
        bao = vault_server.find_bao()
        self._book.record(launch.start_vault(bao, self.config, state.ports, state.vault_root_token))
        self._wait_vault()

    def revoke_app_tokens(self) -> None:
        """Revoke every token an AppRole login issued (worker's and clients'): each process must
        log in again on its next Vault request."""
        self.vault_root().sys.revoke_prefix("auth/approle/login")  # type: ignore[no-untyped-call]

    def set_app_token_ttl(self, ttl: str, max_ttl: str) -> None:
        """Token lifetimes of the AppRoles for logins from now on (e.g. "5s", "10s")."""
        for role in (WORKER_ROLE, CLIENT_ROLE):
            self.vault_root().auth.approle.create_or_update_approle(
                role_name=role,
                token_policies=[role],
                token_ttl=ttl,
                token_max_ttl=max_ttl,
                mount_point=APPROLE_MOUNT,
            )

    # ----- clients ---------------------------------------------------------------------------

    def client_env(self) -> dict[str, str]:
        """The env-file values: what the CLI, the API and the tests need to reach this stack."""
        state = self._book.require()
        if state.client_role is None:
            raise StackError(NOT_SEEDED)
        return client_env(
            state,
            self.paths,
            state.client_role,
            self.config.extra_env,
            database_url=self.config.resolved_database_url,
        )

    def worker_env(self) -> dict[str, str]:
        """The worker's env: the client env, but logging in to Vault as the worker's AppRole."""
        state = self._book.require()
        if state.worker_role is None:
            raise StackError(NOT_SEEDED)
        env = client_env(
            state,
            self.paths,
            state.worker_role,
            self.config.extra_env,
            database_url=self.config.resolved_database_url,
        )
        env["BACKOFFICE_ENV_FILE"] = str(self.env_file)
        # A dev stack's worker takes the new runs at once, whatever its version (deploying.md).
        env.setdefault("BACKOFFICE_WORKER_BECOME_CURRENT", "always")
        return env

    def credentials(self) -> dict[str, Any]:
        """The demo API credentials: `{"api_clients": {id: "<id>.<secret>"}, "approvers":
        {id: password}, "codec_token": ...}` (the same across restarts: `seed_record`)."""
        try:
            loaded: dict[str, Any] = json.loads(self.paths.credentials_file.read_text())
        except (OSError, ValueError):
            raise StackError(NOT_SEEDED) from None
        return loaded

    def web_ui_sign_in_url(self, workflow_id: str | None = None) -> str:
        """A one-time link (valid 30 minutes) that signs the browser opening it in to the
        codec server, then opens the Web UI on the run `workflow_id` (else the list of runs):
        from then on the UI shows that browser decoded payloads."""
        token = self.credentials().get("codec_token")
        if not isinstance(token, str) or not token:
            raise StackError(NOT_SEEDED)
        then = f"/namespaces/{quote(temporal_server.NAMESPACE)}/workflows"
        if workflow_id is not None:
            then += f"/{quote(workflow_id, safe='')}"
        return codec_tickets.sign_in_url(
            self.api_url, codec_tickets.issue(token, then, time.time())
        )

    def vault_root(self) -> hvac.Client:
        """An hvac client holding the root token (tests and seeding only)."""
        return vault_client(self.vault_addr, self._book.require().vault_root_token)

    def sandbox_admin(self) -> httpx.Client:
        """An httpx client for the sandbox's `/_admin` endpoints (close it after use)."""
        token = self._book.require().sandbox_admin_token
        return sandbox_server.admin_client(self.sandbox_url, token)


def _write_credentials(path: Path, credentials: ApiCredentials) -> None:
    body = {
        "api_clients": credentials.api_clients,
        "approvers": credentials.approvers,
        "codec_token": credentials.codec_token,
    }
    write_private(path, json.dumps(body, indent=2) + "\n")
