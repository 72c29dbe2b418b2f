"""`backoffice deploy init-vault`, `backoffice deploy migrate` and `backoffice deploy
worker-health`: the one-shot Vault and database steps and the worker's health check of
docker-compose.yml (all run from the app image); and `backoffice deploy local up|down|status`:
the same production shape without containers."""

import argparse
import asyncio
import os
import socket
import sys
from pathlib import Path

from hvac.exceptions import VaultError
from temporalio.client import Client

from backoffice.cli.parsing import CommandParser
from deploy.env_check import CHECKED_SECRETS, SecretRefused
from deploy.vault_init import InitPlan, VaultInitError, init_vault
from deploy.worker_health import polls_from
from devstack.errors import StackError
from devstack.vault_seed import API_ROLE, CLI_ROLE, SCHEDULES_ROLE, WORKER_ROLE
from domain.systems import WORKFLOW_TASK_QUEUE
from runtime.schema import DatabaseNotReady, upgrade_schema
from runtime.settings import SettingsError, database_url
from runtime.temporal_config import client_config

STATE = Path("/var/lib/backoffice")
# Each role's login goes to /var/lib/backoffice/<name>/vault.env (--<name>-env).
ROLE_ENV_FILES = {
    WORKER_ROLE: "worker",
    API_ROLE: "api",
    SCHEDULES_ROLE: "schedules",
    CLI_ROLE: "cli",
}


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="backoffice deploy", description="Steps and checks of docker-compose.yml."
    )
    sub = parser.add_subparsers(dest="step", required=True)
    init = sub.add_parser(
        "init-vault",
        help="initialise, unseal and seed Vault; write each AppRole login to its env file",
        description="Initialise and unseal a server-mode Vault (OpenBao), seed it once, give "
        "the sandbox the same system credentials, write the worker's, the API's, the schedules "
        "step's and the CLI's AppRole logins (BACKOFFICE_VAULT_ROLE_ID/SECRET_ID) to their env "
        "files, and revoke the root token. It first refuses placeholder or short values of "
        + ", ".join(CHECKED_SECRETS)
        + " (from the environment). The sandbox's admin token comes from SANDBOX_ADMIN_TOKEN.",
    )
    init.add_argument(
        "--vault",
        default=os.environ.get("BACKOFFICE_VAULT_ADDR", "http://vault:8200"),
        help="Vault's address (default: BACKOFFICE_VAULT_ADDR, else %(default)s)",
    )
    init.add_argument(
        "--state-dir",
        type=Path,
        default=STATE / "vault-init",
        help="this step's private folder: unseal key, root token, seeded credentials",
    )
    for role, name in ROLE_ENV_FILES.items():
        init.add_argument(
            f"--{name}-env",
            type=Path,
            default=STATE / name / "vault.env",
            help=f"where the {role} AppRole login goes (default: %(default)s)",
        )
    init.add_argument(
        "--audit-log",
        help="the file audit device's path as Vault sees it (deploy/openbao/bao.hcl); "
        "the step waits until Vault audits to it",
    )
    init.add_argument(
        "--bind-cidr",
        action="append",
        default=[],
        help="a network the AppRole secret ids and tokens may be used from (repeatable)",
    )
    init.add_argument("--sandbox", help="the sandbox's URL, to push the system credentials to")
    init.add_argument("--webhooks-to", help="the API's URL as the sandbox reaches it")
    init.add_argument("--wait", type=float, default=120.0, help="seconds to wait for Vault")
    sub.add_parser(
        "migrate",
        help="upgrade the app database's schema to this version's (run before the workers)",
        description="Upgrade the app database (BACKOFFICE_DATABASE_URL, else the data dir's "
        "SQLite file) to this version's newest migration; a database made before migrations is "
        "stamped once its tables are checked. Several at once wait for each other. Run it "
        "before starting the workers and the API of a new version (docs/deploying.md).",
    )
    health = sub.add_parser(
        "worker-health",
        help="exit 0 while a worker on this host polls the workflow task queue",
        description="Healthy (exit 0) while a worker on this host polls the workflow task "
        "queue; connects as TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / profile say.",
    )
    health.add_argument("--task-queue", default=WORKFLOW_TASK_QUEUE)
    local = sub.add_parser(
        "local",
        help="the production shape without containers: up, down, status",
        description="docker-compose.yml's production shape as plain processes on this host: "
        "PostgreSQL from Debian, temporal-server on it, OpenBao in server mode, the Web UI "
        "server, two workers, the API and the sandbox, on free loopback ports, initialised by "
        "the compose file's own init steps (docs/plain-hosts.md).",
    )
    local.add_argument("action", choices=["up", "down", "status"])
    local.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".data") / "prod",
        help="where everything of this stack lives (default: %(default)s)",
    )
    return parser


def _local(args: argparse.Namespace) -> int:
    # Imported here: it reads docker-compose.yml with PyYAML, which the app image lacks.
    try:
        from deploy.local import LocalShape
    except ImportError as exc:
        print(
            f"backoffice deploy local: {exc}: it runs from a development checkout "
            "(`bash scripts/setup.sh`, or pip install -e '.[dev]')",
            file=sys.stderr,
        )
        return 2

    shape = LocalShape(args.data_dir, say=lambda line: print(line, flush=True))
    if args.action == "up":
        try:
            shape.up()
        except StackError as exc:
            print(f"backoffice deploy local up: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.action == "down":
        stopped = shape.down()
        print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
        return 0
    for name, running in shape.status().items():
        print(f"{name:12} {'running' if running else 'stopped'}")
    return 0


def _init_vault(args: argparse.Namespace) -> int:
    plan = InitPlan(
        vault_addr=args.vault,
        state_dir=args.state_dir,
        env_files={role: getattr(args, f"{name}_env") for role, name in ROLE_ENV_FILES.items()},
        audit_log=args.audit_log,
        bound_cidrs=tuple(args.bind_cidr),
        secrets={name: os.environ[name] for name in CHECKED_SECRETS if name in os.environ},
        sandbox_url=args.sandbox,
        sandbox_admin_token=os.environ.get("SANDBOX_ADMIN_TOKEN"),
        webhooks_to=args.webhooks_to,
        wait_seconds=args.wait,
    )
    try:
        init_vault(plan, say=lambda line: print(line, flush=True))
    except SecretRefused as exc:
        print(f"backoffice deploy init-vault: {exc}", file=sys.stderr)
        return 2
    except (VaultInitError, VaultError, StackError, OSError) as exc:
        print(f"backoffice deploy init-vault: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _worker_health(args: argparse.Namespace) -> int:
    try:
        config = client_config(os.environ)
        client = await asyncio.wait_for(Client.connect(**config), timeout=10)
        problem = await polls_from(client, args.task_queue, socket.gethostname())
    except SettingsError as exc:
        problem = str(exc)
    except Exception as exc:  # a health check reports any failure, it never raises
        problem = f"{type(exc).__name__}: {exc}"[:300]
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    print("healthy: polling")
    return 0


def _migrate() -> int:
    try:
        print(upgrade_schema(database_url()), flush=True)
    except DatabaseNotReady as exc:
        print(f"backoffice deploy migrate: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.step == "init-vault":
        return _init_vault(args)
    if args.step == "migrate":
        return _migrate()
    if args.step == "local":
        return _local(args)
    return asyncio.run(_worker_health(args))
