"""The production shape of docker-compose.yml without containers (`backoffice deploy local
up|down|status`, tests/prodshape): PostgreSQL from Debian, Temporal's own server on it, OpenBao
in server mode, the Web UI server, two workers, the API and the sandbox, on free loopback ports,
everything under one data dir.

Each init step is the compose file's own: deploy/postgres/init-databases.sh,
deploy/temporal/setup-schema.sh, deploy/temporal/init-namespace.sh, `backoffice deploy
init-vault`; each process gets its compose service's environment (deploy/compose_env.py) with the
service addresses moved to this host. A step that fails stops `up` with one line saying what is
wrong and what to do, and stops what this `up` started."""

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from deploy.compose_env import service_environment
from deploy.local_postgres import LocalPostgres, PostgresProblem, find_bin_dir
from devstack import api_server, mailpit, sandbox_server, temporal_ui, vault_server, worker_process
from devstack.errors import ComponentError, StackError
from devstack.paths import project_root
from devstack.ports import PortPicker
from devstack.process import ManagedProcess, spawn, stop
from devstack.readiness import wait_ready
from devstack.state import dotenv_line, write_private
from devstack.temporal_cli import find_temporal_cli
from domain.contract import SEARCH_ATTRIBUTES

Say = Callable[[str], None]

ROOT = project_root()
DEPLOY = ROOT / "deploy"
TOOLS_SCRIPT = ROOT / "scripts" / "prod-tools.sh"
DEFAULT_TOOLS = ROOT / ".tools" / "prod" / "bin"
TEMPORAL_SERVER_VERSION = "v1.30.1"  # docker-compose.yml's temporalio/server tag
WORKERS = ("worker-1", "worker-2")  # the compose file's `replicas: 2`
# The secrets of .env the compose file needs; generated once into <data dir>/secrets.env.
SECRET_NAMES = (
    "POSTGRES_PASSWORD",
    "TEMPORAL_DB_PASSWORD",
    "BACKOFFICE_DB_PASSWORD",
    "SANDBOX_ADMIN_TOKEN",
)
PORT_NAMES = (
    "postgresql", "temporal", "temporal_http", "temporal_membership", "history",
    "history_membership", "matching", "matching_membership", "temporal_worker",
    "temporal_worker_membership", "temporal_metrics", "temporal_ui", "vault", "sandbox", "api",
    "api_metrics", "worker_1_metrics", "worker_2_metrics", "smtp", "mailpit_ui",
)  # fmt: skip


class LocalShapeError(StackError):
    """`up` stopped: one line naming what is wrong and what to do."""


@dataclass
class Layout:
    """Files under the data dir."""

    data_dir: Path

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()

    @property
    def state_file(self) -> Path:
        return self.data_dir / "local.json"

    @property
    def secrets_file(self) -> Path:
        return self.data_dir / "secrets.env"

    def log(self, name: str) -> Path:
        return self.data_dir / "logs" / f"{name}.log"

    def role_env(self, name: str) -> Path:
        """The AppRole login `init-vault` writes for `name` (worker, api, schedules, cli)."""
        return self.data_dir / "logins" / name / "vault.env"


@dataclass
class ShapeState:
    ports: dict[str, int]
    processes: dict[str, dict[str, Any]] = field(default_factory=dict)


# Settings of this process that would point a child at another stack (a dev stack's Vault login,
# its Temporal, its sandbox): a child of the shape gets only its compose service's.
_NOT_INHERITED_PREFIXES = ("BACKOFFICE_", "TEMPORAL_", "BAO_", "VAULT_", "SANDBOX_", "PG")


def process_env(env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any stack's settings, plus `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED_PREFIXES)}
    return {**base, "PYTHONUNBUFFERED": "1", **env}


def _answers(probe: Callable[[], str | None]) -> Callable[[ManagedProcess], None]:
    """Wait until `probe` says the process answers (a minute at most)."""
    return lambda process: wait_ready(process, probe, timeout=60, what="answering")


def probe_http(url: str) -> str | None:
    try:
        code = httpx.get(url, timeout=3.0, trust_env=False).status_code
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if code == 200 else f"answered {code}"


class LocalShape:
    """`up()`, `down()`, `status()`, and the handles tests use to break it on purpose."""

    def __init__(
        self,
        data_dir: Path,
        *,
        say: Say = print,
        extra_env: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.layout = Layout(data_dir)
        self._say = say
        self._extra_env = dict(extra_env or {})
        self._environ = dict(os.environ if environ is None else environ)
        self._state = self._load_state()
        self._processes: dict[str, ManagedProcess] = {}

    # ----- addresses ---------------------------------------------------------------------------

    @property
    def ports(self) -> dict[str, int]:
        return self._state.ports

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.ports['temporal']}"

    @property
    def vault_addr(self) -> str:
        return f"http://127.0.0.1:{self.ports['vault']}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sandbox']}"

    @property
    def temporal_ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['temporal_ui']}"

    @property
    def mailpit_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['mailpit_ui']}"

    @property
    def namespace(self) -> str:
        return self._environ.get("TEMPORAL_NAMESPACE", "default")

    def secrets(self) -> dict[str, str]:
        """The .env secrets: from the environment, else those generated on the first `up`."""
        stored: dict[str, str] = {}
        if self.layout.secrets_file.is_file():
            for line in self.layout.secrets_file.read_text().splitlines():
                name, _, value = line.partition("=")
                stored[name] = value
        values = {name: self._environ.get(name) or stored.get(name) for name in SECRET_NAMES}
        if not all(values.values()):
            values = {name: value or secrets.token_hex(24) for name, value in values.items()}
            body = "".join(dotenv_line(k, v) + "\n" for k, v in values.items() if v)
            write_private(self.layout.secrets_file, body)
        return {k: v for k, v in values.items() if v}

    def compose_values(self) -> dict[str, str]:
        """What `.env` gives docker-compose.yml, for this host."""
        return {
            **self.secrets(),
            "TEMPORAL_NAMESPACE": self.namespace,
            "TEMPORAL_HISTORY_SHARDS": self._environ.get("TEMPORAL_HISTORY_SHARDS", ""),
            "PUBLIC_API_URL": self.api_url,
            "PUBLIC_UI_URL": self.temporal_ui_url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.ports["smtp"]),
            # mailpit on loopback speaks plain SMTP; a real relay: starttls (the default).
            "SMTP_SECURITY": "none",
            "MAIL_FROM": self._environ.get("MAIL_FROM", "backoffice@company.example"),
        }

    def compose_addresses(self) -> dict[str, str | None]:
        """The compose network's addresses, and where each answers on this host."""
        return {
            "temporal:7233": self.temporal_address,
            "http://vault:8200": self.vault_addr,
            "@postgresql:5432/": f"@127.0.0.1:{self.ports['postgresql']}/",
            "http://sandbox:8400": self.sandbox_url,
            # No collector here: the app exports no telemetry.
            "http://otel-collector:4318": None,
        }

    def service_env(self, service: str) -> dict[str, str]:
        return service_environment(service, self.compose_values(), self.compose_addresses())

    # ----- state -------------------------------------------------------------------------------

    def _load_state(self) -> ShapeState:
        try:
            loaded = json.loads(self.layout.state_file.read_text())
            return ShapeState(ports=loaded["ports"], processes=loaded.get("processes", {}))
        except (OSError, ValueError, KeyError):
            with PortPicker("127.0.0.1") as picker:
                ports = {name: picker.pick() for name in PORT_NAMES if name != "vault"}
                ports["vault"] = picker.pick(also_free_above=1)  # and its cluster port
            return ShapeState(ports=ports)

    def _save_state(self) -> None:
        body = {"ports": self._state.ports, "processes": self._state.processes}
        write_private(self.layout.state_file, json.dumps(body, indent=2) + "\n")

    def _record(self, process: ManagedProcess) -> None:
        self._processes[process.name] = process
        self._state.processes[process.name] = {
            "pid": process.pid,
            "start_ticks": process.start_ticks,
            "command": process.display_command,
            "log_file": str(process.log_file),
        }
        self._save_state()

    def process(self, name: str) -> ManagedProcess | None:
        """The running process `name` (one this object started, or one from the state file)."""
        if name in self._processes:
            return self._processes[name]
        entry = self._state.processes.get(name)
        if entry is None:
            return None
        return ManagedProcess(
            name=name,
            pid=entry["pid"],
            start_ticks=entry["start_ticks"],
            display_command=entry["command"],
            log_file=Path(entry["log_file"]),
        )

    def _is_running(self, name: str) -> bool:
        process = self.process(name)
        return process is not None and process.is_running()

    # ----- tools -------------------------------------------------------------------------------

    def _tools_dir(self) -> Path:
        return Path(self._environ.get("BACKOFFICE_LOCAL_TOOLS", DEFAULT_TOOLS))

    def tool(self, name: str) -> Path:
        """temporal-server, temporal-sql-tool or temporal-ui-server; built on first use."""
        path = self._tools_dir() / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
        if "BACKOFFICE_LOCAL_TOOLS" in self._environ:
            raise LocalShapeError(
                f"{name} is missing from {self._tools_dir()} (BACKOFFICE_LOCAL_TOOLS): build "
                "it with `bash scripts/prod-tools.sh` and point BACKOFFICE_LOCAL_TOOLS at "
                ".tools/prod/bin, or copy the binary there"
            )
        self._say(f"{name} is missing: building it with scripts/prod-tools.sh (once; minutes)")
        done = subprocess.run(["bash", str(TOOLS_SCRIPT)], check=False, cwd=ROOT)
        if done.returncode != 0 or not path.is_file():
            raise LocalShapeError(
                f"{name} could not be built: run `bash scripts/prod-tools.sh` (needs Go) and "
                "read its output"
            )
        return path

    def schema_dir(self) -> Path:
        """Temporal's PostgreSQL schema files, from the server's Go module (as in its image)."""
        if given := self._environ.get("TEMPORAL_SCHEMA_DIR"):
            return Path(given)
        done = subprocess.run(
            ["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=False
        )
        cache = Path(done.stdout.strip() or Path.home() / "go" / "pkg" / "mod")
        folder = cache / f"go.temporal.io/server@{TEMPORAL_SERVER_VERSION}/schema/postgresql/v12"
        if not folder.is_dir():
            raise LocalShapeError(
                f"Temporal's schema files are missing ({folder}): run `bash scripts/prod-tools.sh`"
                " (it downloads the server's module), or set TEMPORAL_SCHEMA_DIR to a copy of its "
                "schema/postgresql/v12"
            )
        return folder

    # ----- up / down ---------------------------------------------------------------------------

    def up(self) -> None:
        """Start every component in the compose file's order; on a failure stop what this call
        started and raise LocalShapeError."""
        self.layout.data_dir.mkdir(parents=True, exist_ok=True)
        already = {name for name in self._state.processes if self._is_running(name)}
        postgres_was_running = self._postgres_or_none() is not None and self.postgres.is_running()
        try:
            self._up()
        except BaseException:
            self._stop_started_since(already, postgres_was_running)
            raise
        self._say(
            f"backoffice (production shape) is up: API {self.api_url}, Web UI "
            f"{self.temporal_ui_url}, Temporal {self.temporal_address}; "
            f"`backoffice deploy local down --data-dir {self.layout.data_dir}` stops it"
        )

    def _up(self) -> None:
        names = ("temporal-server", "temporal-sql-tool", "temporal-ui-server")
        server, sql_tool, ui_server = (self.tool(name) for name in names)
        cli = find_temporal_cli(self._say)
        bao = vault_server.find_bao()
        mailpit_binary = mailpit.find_mailpit(self._say)
        # Vault's branch of the compose file first: it needs neither the database nor Temporal.
        self._start(
            "sandbox",
            self._sandbox_command(),
            self._sandbox_env(),
            _answers(lambda: sandbox_server.probe(self.sandbox_url)),
        )
        self._start("vault", self._vault_command(bao), {}, self._wait_vault_answers)
        self._init_vault()
        self._start_postgres()
        self._setup_temporal_schema(sql_tool)
        self._start("temporal", [str(server), "start"], self._temporal_env(), self._wait_temporal)
        self._init_namespace(cli)
        self._app_schema()
        self._start(
            "mailpit",
            self._mailpit_command(mailpit_binary),
            {},
            _answers(lambda: mailpit.probe(self.mailpit_url)),
        )
        for index, name in enumerate(WORKERS, start=1):
            self.start_worker(name, index)
        self.start_api()
        self._start(
            "temporal-ui",
            self._ui_command(ui_server),
            {},
            _answers(lambda: temporal_ui.probe(self.temporal_ui_url)),
        )
        self._create_schedules()

    def down(self) -> list[str]:
        """Stop every process (workers and API first, PostgreSQL last); the names stopped."""
        stopped = []
        order = ["temporal-ui", "api", *WORKERS, "mailpit", "vault", "sandbox", "temporal"]
        for name in order + [n for n in self._state.processes if n not in order]:
            process = self.process(name)
            if process is not None and stop(process, timeout=30):
                stopped.append(name)
            self._state.processes.pop(name, None)
            self._processes.pop(name, None)
        if self._postgres_or_none() is not None and self.postgres.is_running():
            self.postgres.stop()
            stopped.append("postgresql")
        if self.layout.data_dir.is_dir():
            self._save_state()
        return stopped

    def status(self) -> dict[str, bool]:
        """Each component: running or not."""
        names = ["postgresql", "temporal", "sandbox", "vault", "mailpit", *WORKERS, "api"]
        running = {name: self._is_running(name) for name in [*names, "temporal-ui"]}
        running["postgresql"] = self._postgres_or_none() is not None and self.postgres.is_running()
        return running

    def _stop_started_since(self, already: set[str], postgres_was_running: bool) -> None:
        for name in list(self._state.processes):
            if name in already:
                continue
            process = self.process(name)
            if process is not None:
                stop(process, timeout=20)
            self._state.processes.pop(name, None)
            self._processes.pop(name, None)
        if not postgres_was_running and self._postgres_or_none() is not None:
            try:
                self.postgres.stop()
            except PostgresProblem as exc:
                self._say(f"warning: {exc}")
        if self.layout.state_file.parent.is_dir():
            self._save_state()

    def _start(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str],
        wait: Callable[[ManagedProcess], None],
    ) -> ManagedProcess:
        if self._is_running(name):
            process = self.process(name)
            assert process is not None
            return process
        self._say(f"starting {name}")
        process = spawn(
            name,
            argv,
            log_file=self.layout.log(name),
            env=process_env(env),
            cwd=self.layout.data_dir,
        )
        self._record(process)
        try:
            wait(process)
        except ComponentError as exc:
            raise LocalShapeError(
                f"{name} did not start: {exc.problem} (log: {process.log_file})"
            ) from None
        return process

    # ----- PostgreSQL --------------------------------------------------------------------------

    def _postgres_or_none(self) -> LocalPostgres | None:
        try:
            return self.postgres
        except (PostgresProblem, LocalShapeError):
            return None

    @property
    def postgres(self) -> LocalPostgres:
        try:
            bin_dir = find_bin_dir(self._environ.get("BACKOFFICE_LOCAL_PG_BIN"))
        except PostgresProblem as exc:
            raise LocalShapeError(str(exc)) from None
        return LocalPostgres(self.layout.data_dir / "postgresql", self.ports["postgresql"], bin_dir)

    def _start_postgres(self) -> None:
        postgres = self.postgres
        values = self.secrets()
        try:
            fresh = not postgres.initialised
            if fresh:
                self._say("initialising PostgreSQL")
                postgres.init(values["POSTGRES_PASSWORD"])
            if not postgres.is_running():
                self._say("starting PostgreSQL")
                postgres.start()
            if fresh:
                # As the image does on a new volume: the compose file's own init script.
                postgres.run_init_script(
                    {k: values[k] for k in ("TEMPORAL_DB_PASSWORD", "BACKOFFICE_DB_PASSWORD")}
                )
        except PostgresProblem as exc:
            raise LocalShapeError(str(exc)) from None
        for role, secret, database in (
            ("temporal", "TEMPORAL_DB_PASSWORD", "postgres"),
            ("backoffice", "BACKOFFICE_DB_PASSWORD", "backoffice"),
        ):
            self._check_login(role, values[secret], secret, database)

    def _check_login(self, role: str, password: str, secret: str, database: str) -> None:
        port = self.ports["postgresql"]
        engine = create_engine(
            f"postgresql+psycopg://{role}:{password}@127.0.0.1:{port}/{database}",
            connect_args={"connect_timeout": 10},
        )
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            if "password authentication failed" in str(exc):
                raise LocalShapeError(
                    f"PostgreSQL refused the password of role {role}: {secret} (in "
                    f"{self.layout.secrets_file} or the environment) is not the one "
                    f"init-databases.sh set; put the old value back or ALTER ROLE {role} "
                    "PASSWORD as the postgres superuser"
                ) from None
            raise LocalShapeError(f"PostgreSQL refused role {role}: {exc.orig}") from None
        finally:
            engine.dispose()

    def _setup_temporal_schema(self, sql_tool: Path) -> None:
        """deploy/temporal/setup-schema.sh with the temporal-schema service's environment."""
        env = {
            **self.service_env("temporal-schema"),
            "POSTGRES_SEEDS": "127.0.0.1",
            "DB_PORT": str(self.ports["postgresql"]),
            "TEMPORAL_SCHEMA_DIR": str(self.schema_dir()),
            "PATH": f"{self._link_dir(sql_tool)}:{os.environ.get('PATH', '')}",
        }
        self._say("setting up Temporal's schema (deploy/temporal/setup-schema.sh)")
        self._run_step(
            ["/bin/sh", str(DEPLOY / "temporal" / "setup-schema.sh")], env, "setup-schema"
        )

    def _link_dir(self, sql_tool: Path) -> Path:
        """A folder where `temporal-sql-tool` is on PATH under that name."""
        folder = self.layout.data_dir / "bin"
        folder.mkdir(exist_ok=True)
        link = folder / "temporal-sql-tool"
        link.unlink(missing_ok=True)
        link.symlink_to(sql_tool)
        return folder

    def _run_step(self, argv: list[str], env: Mapping[str, str], step: str) -> str:
        log = self.layout.log(step)
        log.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            argv, env=process_env(env), capture_output=True, text=True, timeout=600,
            check=False, cwd=self.layout.data_dir,
        )  # fmt: skip
        log.write_text(done.stdout + done.stderr)
        if done.returncode != 0:
            last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
            raise LocalShapeError(f"{step} failed: {last[0][:300]} (log: {log})")
        return done.stdout

    # ----- Temporal ----------------------------------------------------------------------------

    def _temporal_env(self) -> dict[str, str]:
        """The temporal service's environment: as in its image, `temporal-server start` renders
        the server's embedded config template from it."""
        ports = self.ports
        return {
            **self.service_env("temporal"),
            "POSTGRES_SEEDS": "127.0.0.1",
            "DB_PORT": str(ports["postgresql"]),
            "BIND_ON_IP": "127.0.0.1",
            "DYNAMIC_CONFIG_FILE_PATH": str(DEPLOY / "temporal" / "dynamicconfig.yaml"),
            "PROMETHEUS_ENDPOINT": f"127.0.0.1:{ports['temporal_metrics']}",
            "FRONTEND_GRPC_PORT": str(ports["temporal"]),
            "FRONTEND_HTTP_PORT": str(ports["temporal_http"]),
            "FRONTEND_MEMBERSHIP_PORT": str(ports["temporal_membership"]),
            "HISTORY_GRPC_PORT": str(ports["history"]),
            "HISTORY_MEMBERSHIP_PORT": str(ports["history_membership"]),
            "MATCHING_GRPC_PORT": str(ports["matching"]),
            "MATCHING_MEMBERSHIP_PORT": str(ports["matching_membership"]),
            "WORKER_GRPC_PORT": str(ports["temporal_worker"]),
            "WORKER_MEMBERSHIP_PORT": str(ports["temporal_worker_membership"]),
        }

    def cluster_health(self) -> subprocess.CompletedProcess[str]:
        """`temporal operator cluster health`, the raw CLI, as the compose's checks ask it."""
        return subprocess.run(
            [str(find_temporal_cli(self._say)), "operator", "cluster", "health",
             "--address", self.temporal_address],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip

    def _wait_temporal(self, process: ManagedProcess) -> None:
        def serving() -> str | None:
            done = self.cluster_health()
            return None if "SERVING" in done.stdout else (done.stderr.strip()[-200:] or "no answer")

        try:
            wait_ready(process, serving, timeout=180, what="serving")
        except ComponentError:
            log = process.log_since_start()
            if "version mismatch for keyspace/database" in log:
                raise LocalShapeError(
                    f"Temporal's schema is behind temporal-server {TEMPORAL_SERVER_VERSION} "
                    "(the server refused it: 'version mismatch'): run deploy/temporal/setup-"
                    f"schema.sh with TEMPORAL_SCHEMA_DIR at that server's schema/postgresql/v12 "
                    f"(log: {process.log_file})"
                ) from None
            raise

    def _init_namespace(self, cli: Path) -> None:
        env = {
            **self.service_env("temporal-init"),
            "TEMPORAL_CLI": str(cli),
            "SEARCH_ATTRIBUTES_FILE": self._environ.get(
                "SEARCH_ATTRIBUTES_FILE", str(DEPLOY / "temporal" / "search-attributes")
            ),
        }
        self._say(
            "creating the namespace and search attributes (deploy/temporal/init-namespace.sh)"
        )
        self._run_step(
            ["/bin/sh", str(DEPLOY / "temporal" / "init-namespace.sh")], env, "init-namespace"
        )
        self._check_search_attributes(cli)

    def _check_search_attributes(self, cli: Path) -> None:
        """Every search attribute the app queries is registered on the namespace."""
        argv = [
            str(cli), "operator", "search-attribute", "list", "--namespace", self.namespace,
            "--address", self.temporal_address, "--output", "json",
        ]  # fmt: skip
        # A namespace just created takes a few seconds to reach the frontend's cache.
        for _ in range(30):
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
            if done.returncode == 0:
                break
            time.sleep(1.0)
        try:
            listed = json.loads(done.stdout)
        except ValueError:
            raise LocalShapeError(
                f"cannot list the search attributes of namespace {self.namespace}: "
                f"{done.stderr.strip()[-200:]}"
            ) from None
        names = json.dumps(listed)
        missing = sorted(name for name in SEARCH_ATTRIBUTES if f'"{name}"' not in names)
        if missing:
            raise LocalShapeError(
                f"namespace {self.namespace} lacks the search attributes {', '.join(missing)}: "
                "register them with deploy/temporal/init-namespace.sh (SEARCH_ATTRIBUTES_FILE = "
                "deploy/temporal/search-attributes)"
            )

    # ----- sandbox, Vault, mail ----------------------------------------------------------------

    def _sandbox_command(self) -> list[str]:
        return sandbox_server.server_command(
            host="127.0.0.1",
            port=self.ports["sandbox"],
            database_url=f"sqlite:///{self.layout.data_dir / 'sandbox.db'}",
        )

    def _sandbox_env(self) -> dict[str, str]:
        return {"SANDBOX_ADMIN_TOKEN": self.secrets()["SANDBOX_ADMIN_TOKEN"]}

    def sandbox_admin(self) -> httpx.Client:
        return sandbox_server.admin_client(self.sandbox_url, self.secrets()["SANDBOX_ADMIN_TOKEN"])

    def _vault_command(self, bao: Path) -> list[str]:
        return [str(bao), "server", f"-config={self.vault_config()}"]

    def vault_config(self) -> Path:
        """deploy/openbao/bao.hcl with its storage, audit file and addresses moved here."""
        folder = self.layout.data_dir / "vault"
        (folder / "raft").mkdir(parents=True, exist_ok=True)
        port = self.ports["vault"]
        moves = {
            '"/openbao/file"': f'"{folder / "raft"}"',
            '"/openbao/logs/audit.log"': f'"{self.vault_audit_log}"',
            '"0.0.0.0:8200"': f'"127.0.0.1:{port}"',
            '"0.0.0.0:8201"': f'"127.0.0.1:{port + 1}"',
            '"http://vault:8200"': f'"{self.vault_addr}"',
            '"http://vault:8201"': f'"http://127.0.0.1:{port + 1}"',
        }
        config = (DEPLOY / "openbao" / "bao.hcl").read_text()
        for old, new in moves.items():
            config = config.replace(old, new)
        path = folder / "bao.hcl"
        path.write_text(config)
        return path

    @property
    def vault_audit_log(self) -> Path:
        return self.layout.data_dir / "vault" / "audit.log"

    def _wait_vault_answers(self, process: ManagedProcess) -> None:
        url = f"{self.vault_addr}/v1/sys/health?uninitcode=200&sealedcode=200&standbycode=200"
        wait_ready(process, lambda: probe_http(url), timeout=60, what="answering")

    def _init_vault(self) -> None:
        """`backoffice deploy init-vault` with the vault-init service's arguments."""
        argv = [
            sys.executable, "-m", "backoffice.cli", "deploy", "init-vault",
            f"--vault={self.vault_addr}",
            f"--state-dir={self.layout.data_dir / 'vault-init'}",
            f"--sandbox={self.sandbox_url}",
            f"--webhooks-to={self.api_url}",
            f"--audit-log={self.vault_audit_log}",
            "--bind-cidr=127.0.0.0/8",
            "--wait=60",
        ]  # fmt: skip
        argv += [
            f"--{name}-env={self.layout.role_env(name)}"
            for name in ("worker", "api", "schedules", "cli")
        ]
        self._say("initialising and unsealing Vault (backoffice deploy init-vault)")
        self._run_step(argv, {**self.secrets(), "PYTHONPATH": str(ROOT)}, "vault-init")
        status = probe_http(f"{self.vault_addr}/v1/sys/health")
        if status is not None:
            raise LocalShapeError(
                f"Vault at {self.vault_addr} is not initialised and unsealed ({status}) after "
                "init-vault: run `backoffice deploy init-vault` and read its output"
            )

    def _app_schema(self) -> None:
        """The db-migrate service: `backoffice deploy migrate` with its environment, before
        the workers and the API (which refuse a schema that is behind)."""
        argv = [sys.executable, "-m", "backoffice.cli", "deploy", "migrate"]
        self._say("migrating the app database (backoffice deploy migrate)")
        env = {**self.service_env("db-migrate"), "PYTHONPATH": str(ROOT)}
        self._run_step(argv, env, "db-migrate")

    def _ui_command(self, binary: Path) -> list[str]:
        """The UI server with the temporal-ui service's settings (its image renders them into
        this same config file)."""
        env = self.service_env("temporal-ui")
        config_dir = self.layout.data_dir / "temporal-ui" / "config"
        temporal_ui.write_config(
            config_dir,
            host="127.0.0.1",
            port=self.ports["temporal_ui"],
            temporal_address=self.temporal_address,
            namespace=env["TEMPORAL_DEFAULT_NAMESPACE"],
            codec_endpoint=env["TEMPORAL_CODEC_ENDPOINT"],
            include_credentials=env["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true",
            write_actions=env["TEMPORAL_DISABLE_WRITE_ACTIONS"] != "true",
        )
        return temporal_ui.server_command(binary, config_dir)

    def _mailpit_command(self, binary: Path) -> list[str]:
        # The SMTP relay's stand-in: any login (the worker's comes from Vault), plain SMTP.
        return [
            str(binary),
            "--smtp", f"127.0.0.1:{self.ports['smtp']}",
            "--listen", f"127.0.0.1:{self.ports['mailpit_ui']}",
            "--database", str(self.layout.data_dir / "mailpit.db"),
            "--max", "0",
            "--smtp-auth-accept-any",
            "--smtp-auth-allow-insecure",
            "--disable-version-check",
            "--smtp-disable-rdns",
        ]  # fmt: skip

    # ----- the app -----------------------------------------------------------------------------

    def worker_env(self, index: int) -> dict[str, str]:
        return {
            **self.service_env("worker"),
            "BACKOFFICE_ENV_FILE": str(self.layout.role_env("worker")),
            "BACKOFFICE_WORKER_METRICS_ADDRESS": (
                f"127.0.0.1:{self.ports[f'worker_{index}_metrics']}"
            ),
            # The exports volume both replicas share.
            "BACKOFFICE_DATA_DIR": str(self.layout.data_dir / "app"),
            **self._extra_env,
        }

    def start_worker(self, name: str, index: int | None = None) -> ManagedProcess:
        index = index or WORKERS.index(name) + 1
        return self._start(
            name,
            worker_process.worker_command(),
            self.worker_env(index),
            lambda p: wait_ready(p, lambda: worker_process.probe(p), timeout=120, what="polling"),
        )

    def client_env(self) -> dict[str, str]:
        """The API's environment; also what a CLI or a test on this host connects with."""
        return {
            **self.service_env("api"),
            "BACKOFFICE_ENV_FILE": str(self.layout.role_env("api")),
            "BACKOFFICE_API_METRICS_ADDRESS": f"127.0.0.1:{self.ports['api_metrics']}",
            "BACKOFFICE_DATA_DIR": str(self.layout.data_dir / "app"),
            **self._extra_env,
        }

    def start_api(self) -> ManagedProcess:
        return self._start(
            "api",
            api_server.server_command(host="127.0.0.1", port=self.ports["api"]),
            self.client_env(),
            lambda p: wait_ready(
                p, lambda: probe_http(f"{self.api_url}/readyz"), timeout=120, what="ready"
            ),
        )

    def _create_schedules(self) -> None:
        env = {
            **self.service_env("schedules-init"),
            "BACKOFFICE_ENV_FILE": str(self.layout.role_env("schedules")),
        }
        argv = [sys.executable, "-m", "backoffice.cli", "schedules", "create"]
        self._run_step(argv, {**env, "PYTHONPATH": str(ROOT)}, "schedules-init")

    # ----- breaking it on purpose (tests) ------------------------------------------------------

    def restart_temporal(self) -> None:
        process = self.process("temporal")
        if process is not None:
            stop(process, timeout=30)
        self._state.processes.pop("temporal", None)
        self._processes.pop("temporal", None)
        self._start(
            "temporal", [str(self.tool("temporal-server")), "start"], self._temporal_env(),
            self._wait_temporal,
        )  # fmt: skip

    def restart_postgres(self) -> None:
        postgres = self.postgres
        postgres.stop()
        postgres.start()
