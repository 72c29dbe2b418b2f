"""The vault-init step of docker-compose.yml: initialise and unseal a server-mode Vault
(OpenBao), seed it once with the dev stack's own seeding code (`devstack.vault_seed`: KV v2
secrets, the transit key, the policies and AppRoles), give the sandbox the same system
credentials, and hand the worker and the API their own AppRole login, never the root token.

Run again (every `docker compose up`), it only unseals, re-applies the policies and renews an
AppRole login that stopped working. The unseal key and the root token stay in `state_dir`, a
volume no other service mounts.
"""

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import hvac
from hvac.exceptions import VaultError

from devstack.sandbox_server import admin_client, push_credentials, push_webhook_targets
from devstack.state import dotenv_line, write_private
from devstack.vault_seed import (
    APPROLE_MOUNT,
    CLIENT_ROLE,
    POLICIES,
    WORKER_ROLE,
    AppRoleLogin,
    SeedResult,
    seed,
    vault_client,
)

Say = Callable[[str], None]

UNSEAL_FILE = "unseal.json"  # the unseal key and the root token: this step's only
LOGINS_FILE = "approles.json"  # the AppRole logins handed out, once seeded
CREDENTIALS_FILE = "credentials.json"  # the API's seeded credentials, in plain text (0600)
# One key share: the compose file is one machine (a real cluster splits the key: docs/).
KEY_SHARES = 1
# Seconds one Vault call may take. Initialising raft storage writes the keyring and waits for the
# node to lead; on a busy machine that has taken over 10 s, and a timed-out initialisation cannot
# be retried (Vault would be initialised with keys nobody kept), so this step waits long.
CALL_TIMEOUT = 60


class VaultInitError(Exception):
    """Vault could not be initialised, unsealed or seeded; the message says why."""


@dataclass(frozen=True)
class InitPlan:
    """Where Vault and the sandbox answer, and where the logins go."""

    vault_addr: str
    state_dir: Path
    worker_env: Path
    client_env: Path
    sandbox_url: str | None = None
    sandbox_admin_token: str | None = None
    webhooks_to: str | None = None  # the API's base URL as the sandbox reaches it
    wait_seconds: float = 120.0


def init_vault(plan: InitPlan, say: Say = print) -> None:
    """Initialise, unseal and seed (once); then write each role's login to its env file."""
    _wait_until_answering(plan)
    keys = _initialise(plan, say)
    _unseal(plan, keys, say)
    root = vault_client(plan.vault_addr, keys["root_token"], CALL_TIMEOUT)
    logins_file = plan.state_dir / LOGINS_FILE
    if logins_file.is_file():
        logins = _refresh(root, _read_json(logins_file), say)
    else:
        logins = _seed(root, plan, say)
    write_private(logins_file, json.dumps({k: asdict(v) for k, v in logins.items()}) + "\n")
    _write_login(plan.worker_env, logins[WORKER_ROLE])
    _write_login(plan.client_env, logins[CLIENT_ROLE])
    say(f"vault-init: worker login in {plan.worker_env}, API login in {plan.client_env}")


def _health(plan: InitPlan, query: str = "") -> int | None:
    try:
        answer = httpx.get(
            f"{plan.vault_addr.rstrip('/')}/v1/sys/health{query}", timeout=5.0, trust_env=False
        )
    except httpx.HTTPError:
        return None
    return answer.status_code


def _wait_for(plan: InitPlan, ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + plan.wait_seconds
    while not ready():
        if time.monotonic() > deadline:
            raise VaultInitError(
                f"Vault at {plan.vault_addr} is not {what} after {plan.wait_seconds:.0f} s"
            )
        time.sleep(1.0)


def _wait_until_answering(plan: InitPlan) -> None:
    # Every state answers 200 with these codes: sealed, not initialised, standby.
    query = "?uninitcode=200&sealedcode=200&standbycode=200"
    _wait_for(plan, lambda: _health(plan, query) == 200, "answering")


def _initialise(plan: InitPlan, say: Say) -> dict[str, Any]:
    client = vault_client(plan.vault_addr, timeout=CALL_TIMEOUT)
    unseal_file = plan.state_dir / UNSEAL_FILE
    if not client.sys.is_initialized():  # type: ignore[no-untyped-call]
        say(f"vault-init: initialising Vault at {plan.vault_addr}")
        answer = client.sys.initialize(  # type: ignore[no-untyped-call]
            secret_shares=KEY_SHARES, secret_threshold=KEY_SHARES
        )
        keys = {"keys": answer["keys"], "root_token": answer["root_token"]}
        write_private(unseal_file, json.dumps(keys) + "\n")
        return keys
    if not unseal_file.is_file():
        raise VaultInitError(
            f"Vault at {plan.vault_addr} is initialised, but not by this step ({unseal_file} is "
            "missing): unseal and seed it by hand, or start from an empty vault-data volume"
        )
    return _read_json(unseal_file)


def _unseal(plan: InitPlan, keys: dict[str, Any], say: Say) -> None:
    client = vault_client(plan.vault_addr, timeout=CALL_TIMEOUT)
    if client.sys.is_sealed():  # type: ignore[no-untyped-call]
        say("vault-init: unsealing")
        client.sys.submit_unseal_keys(keys["keys"])
    # Unsealed raft storage elects itself leader a moment later: wait for "active" (200).
    _wait_for(plan, lambda: _health(plan) == 200, "unsealed and active")


def _seed(root: hvac.Client, plan: InitPlan, say: Say) -> dict[str, AppRoleLogin]:
    say("vault-init: seeding secrets, the transit key, policies and AppRoles")
    # No transit backup: a server-mode Vault keeps its keys in its own storage.
    seeded = seed(root)
    _push_to_sandbox(plan, seeded, say)
    credentials = {
        "api_clients": seeded.api_credentials.api_clients,
        "approvers": seeded.api_credentials.approvers,
        "codec_token": seeded.api_credentials.codec_token,
    }
    write_private(plan.state_dir / CREDENTIALS_FILE, json.dumps(credentials, indent=2) + "\n")
    return {WORKER_ROLE: seeded.worker, CLIENT_ROLE: seeded.client}


def _push_to_sandbox(plan: InitPlan, seeded: SeedResult, say: Say) -> None:
    if not plan.sandbox_url:
        return
    with admin_client(plan.sandbox_url, plan.sandbox_admin_token or "") as admin:
        push_credentials(admin, seeded.system_credentials)
        if plan.webhooks_to:
            push_webhook_targets(admin, plan.webhooks_to, seeded.webhook_secrets, say)
    say(f"vault-init: the sandbox at {plan.sandbox_url} has the same system credentials")


def _refresh(root: hvac.Client, stored: dict[str, Any], say: Say) -> dict[str, AppRoleLogin]:
    """Seeded before: apply the current policies, keep each login that still works."""
    logins: dict[str, AppRoleLogin] = {}
    for role in (WORKER_ROLE, CLIENT_ROLE):
        root.sys.create_or_update_policy(name=role, policy=POLICIES[role])
        login = AppRoleLogin(**stored[role])
        if not _logs_in(root.url, login):
            say(f"vault-init: the {role} login stopped working; issuing a new secret id")
            secret = root.auth.approle.generate_secret_id(role_name=role, mount_point=APPROLE_MOUNT)
            login = AppRoleLogin(role_id=login.role_id, secret_id=secret["data"]["secret_id"])
        logins[role] = login
    say("vault-init: already seeded; policies re-applied")
    return logins


def _logs_in(addr: str, login: AppRoleLogin) -> bool:
    try:
        vault_client(addr, timeout=CALL_TIMEOUT).auth.approle.login(
            role_id=login.role_id, secret_id=login.secret_id, mount_point=APPROLE_MOUNT
        )
    except VaultError:
        return False
    return True


def _write_login(path: Path, login: AppRoleLogin) -> None:
    text = (
        "# Written by the vault-init step of docker-compose.yml: this service's AppRole login.\n"
        + dotenv_line("BACKOFFICE_VAULT_ROLE_ID", login.role_id)
        + "\n"
        + dotenv_line("BACKOFFICE_VAULT_SECRET_ID", login.secret_id)
        + "\n"
    )
    write_private(path, text)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise VaultInitError(f"cannot read {path}: {exc}") from None
    return loaded
