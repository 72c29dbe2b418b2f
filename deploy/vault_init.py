"""The vault-init step of docker-compose.yml: initialise and unseal a server-mode Vault
(OpenBao), seed it once with the dev stack's own seeding code (`devstack.vault_seed`: KV v2
secrets, the transit key, the policies and AppRoles), give the sandbox (demo profile) the same
system credentials, hand the worker, the API, `schedules create` and the CLI each its own AppRole
login, then revoke the root token (docs/security.md).

Run again (every `docker compose up`), it logs in with its own narrow role (`backoffice-init`),
unseals, re-applies the policies, renews a login that stopped working and issues the schedules
step and the CLI new short-lived secret ids. The unseal key and that role's login stay in
`state_dir`, a volume no other service mounts.
"""

import json
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import hvac
from hvac.exceptions import VaultError

from deploy.env_check import check_secrets, example_values
from devstack.sandbox_server import admin_client, push_credentials, push_webhook_targets
from devstack.state import dotenv_line, write_private
from devstack.vault_seed import (
    API_ROLE,
    APPROLE_MOUNT,
    CLI_ROLE,
    SCHEDULES_ROLE,
    WORKER_ROLE,
    AppRoleLogin,
    RoleLimits,
    SeedResult,
    apply_role,
    new_secret_id,
    seed,
    seed_approles,
    vault_client,
)

Say = Callable[[str], None]

UNSEAL_FILE = "unseal.json"  # the unseal key (and the root token until it is revoked)
INIT_LOGIN_FILE = "init-login.json"  # this step's own AppRole login, for the next runs
LOGINS_FILE = "approles.json"  # the AppRole logins handed out, once seeded
CREDENTIALS_FILE = "credentials.json"  # the API's seeded credentials, in plain text (0600)
# One key share: the compose file is one machine (a real cluster splits the key: docs/).
KEY_SHARES = 1
# Seconds one Vault call may take. Initialising raft storage writes the keyring and waits for the
# node to lead; on a busy machine that has taken over 10 s, and a timed-out initialisation cannot
# be retried (Vault would be initialised with keys nobody kept), so this step waits long.
CALL_TIMEOUT = 60
PROCESS_ROLES = (WORKER_ROLE, API_ROLE, SCHEDULES_ROLE, CLI_ROLE)
INIT_ROLE = "backoffice-init"
INIT_TOKEN_TTL = "15m"  # noqa: S105 (a duration): one run of this step
# The long-running worker and API log in again every hour with the same secret id: theirs do
# not expire (they are bound to the compose network instead). The schedules step runs right
# after this one; the CLI gets a day (`docker compose run --rm vault-init` issues a new one).
SECRET_ID_TTLS = {WORKER_ROLE: 0, API_ROLE: 0, SCHEDULES_ROLE: 3600, CLI_ROLE: 86400}
RENEWED_EVERY_RUN = (SCHEDULES_ROLE, CLI_ROLE)


def _init_policy() -> str:
    """What this step needs after the root token is gone: keep the four roles and their
    policies current, hand out secret ids, and see the audit devices. Nothing of the secrets."""
    rules = ['path "sys/audit" { capabilities = ["read", "sudo"] }\n']
    for role in PROCESS_ROLES:
        rules += [
            f'path "sys/policy/{role}" {{ capabilities = ["create", "update", "read"] }}\n',
            f'path "auth/{APPROLE_MOUNT}/role/{role}" '
            '{ capabilities = ["create", "update", "read"] }\n',
            f'path "auth/{APPROLE_MOUNT}/role/{role}/role-id" {{ capabilities = ["read"] }}\n',
            f'path "auth/{APPROLE_MOUNT}/role/{role}/secret-id" {{ capabilities = ["update"] }}\n',
        ]
    return "".join(rules)


class VaultInitError(Exception):
    """Vault could not be initialised, unsealed or seeded; the message says why."""


@dataclass(frozen=True)
class InitPlan:
    """Where Vault and the sandbox answer, where each role's login goes, and the limits."""

    vault_addr: str
    state_dir: Path
    env_files: dict[str, Path]  # role -> the env file its process reads
    sandbox_url: str | None = None
    sandbox_admin_token: str | None = None
    webhooks_to: str | None = None  # the API's base URL as the sandbox reaches it
    audit_log: str | None = None  # the file audit device's path, as Vault sees it
    bound_cidrs: tuple[str, ...] = ()  # where the secret ids and tokens may be used from
    secrets: Mapping[str, str] = field(default_factory=dict)  # .env's, checked first
    wait_seconds: float = 120.0

    def limits(self, role: str) -> RoleLimits:
        return RoleLimits(secret_id_ttl=SECRET_ID_TTLS.get(role, 0), bound_cidrs=self.bound_cidrs)


def init_vault(plan: InitPlan, say: Say = print) -> None:
    """Check .env's secrets; initialise, unseal and seed (once), revoke the root token; then
    write each role's login to its env file."""
    check_secrets(plan.secrets, example_values())
    _wait_until_answering(plan)
    keys = _initialise(plan, say)
    _unseal(plan, keys, say)
    admin = _admin_client(plan, keys)
    if plan.audit_log:
        _wait_for(plan, lambda: _audits_to(admin, plan.audit_log or ""), "auditing")
        say(f"vault-init: the file audit device writes to {plan.audit_log}")
    logins_file = plan.state_dir / LOGINS_FILE
    if logins_file.is_file():
        logins = _refresh(admin, plan, _read_json(logins_file), say)
    else:
        logins = _seed(admin, plan, say)
    write_private(logins_file, json.dumps({k: asdict(v) for k, v in logins.items()}) + "\n")
    if "root_token" in keys:
        _revoke_root(admin, plan, keys, say)
    for role, path in plan.env_files.items():
        _write_login(path, logins[role])
    say("vault-init: logins in " + ", ".join(str(p) for p in plan.env_files.values()))


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


def _admin_client(plan: InitPlan, keys: dict[str, Any]) -> hvac.Client:
    """The root token until it is revoked (the first run), this step's own role after."""
    if "root_token" in keys:
        return vault_client(plan.vault_addr, keys["root_token"], CALL_TIMEOUT)
    login_file = plan.state_dir / INIT_LOGIN_FILE
    if not login_file.is_file():
        raise VaultInitError(
            f"the root token is revoked and {login_file} is missing: create a root token with "
            "the unseal key (`bao operator generate-root`), then log this step's role in by hand"
        )
    login = AppRoleLogin(**_read_json(login_file))
    client = vault_client(plan.vault_addr, timeout=CALL_TIMEOUT)
    client.auth.approle.login(
        role_id=login.role_id, secret_id=login.secret_id, mount_point=APPROLE_MOUNT
    )
    return client


def _audits_to(client: hvac.Client, file_path: str) -> bool:
    devices = client.sys.list_enabled_audit_devices()  # type: ignore[no-untyped-call]
    devices = devices.get("data", devices)
    return any(
        isinstance(d, dict) and (d.get("options") or {}).get("file_path") == file_path
        for d in devices.values()
    )


def _seed(root: hvac.Client, plan: InitPlan, say: Say) -> dict[str, AppRoleLogin]:
    say("vault-init: seeding secrets, the transit key, policies and AppRoles")
    # No transit backup: a server-mode Vault keeps its keys in its own storage.
    seeded = seed(root, roles={role: plan.limits(role) for role in PROCESS_ROLES})
    _push_to_sandbox(plan, seeded, say)
    credentials = {
        "api_clients": seeded.api_credentials.api_clients,
        "approvers": seeded.api_credentials.approvers,
        "codec_token": seeded.api_credentials.codec_token,
    }
    write_private(plan.state_dir / CREDENTIALS_FILE, json.dumps(credentials, indent=2) + "\n")
    return seeded.logins


def _revoke_root(root: hvac.Client, plan: InitPlan, keys: dict[str, Any], say: Say) -> None:
    """Hand this step a role of its own, then revoke the root token and forget it."""
    root.sys.create_or_update_policy(name=INIT_ROLE, policy=_init_policy())
    root.auth.approle.create_or_update_approle(
        role_name=INIT_ROLE,
        token_policies=[INIT_ROLE],
        token_ttl=INIT_TOKEN_TTL,
        token_max_ttl=INIT_TOKEN_TTL,
        secret_id_bound_cidrs=list(plan.bound_cidrs) or None,
        token_bound_cidrs=list(plan.bound_cidrs) or None,
        mount_point=APPROLE_MOUNT,
    )
    role_id = root.auth.approle.read_role_id(role_name=INIT_ROLE, mount_point=APPROLE_MOUNT)
    login = AppRoleLogin(
        role_id=role_id["data"]["role_id"], secret_id=new_secret_id(root, INIT_ROLE)
    )
    write_private(plan.state_dir / INIT_LOGIN_FILE, json.dumps(asdict(login)) + "\n")
    root.auth.token.revoke_self()
    write_private(plan.state_dir / UNSEAL_FILE, json.dumps({"keys": keys["keys"]}) + "\n")
    say("vault-init: root token revoked (a new one needs the unseal key: docs/security.md)")


def _push_to_sandbox(plan: InitPlan, seeded: SeedResult, say: Say) -> None:
    if not plan.sandbox_url:
        return
    host = urlsplit(plan.sandbox_url).hostname or ""
    try:
        socket.getaddrinfo(host, None)
    except OSError:
        # Compose names only the services that run: no sandbox without the demo profile.
        say(f"vault-init: no sandbox at {plan.sandbox_url} (demo profile off); not pushed")
        return
    with admin_client(plan.sandbox_url, plan.sandbox_admin_token or "") as admin:
        push_credentials(admin, seeded.system_credentials)
        if plan.webhooks_to:
            push_webhook_targets(admin, plan.webhooks_to, seeded.webhook_secrets, say)
    say(f"vault-init: the sandbox at {plan.sandbox_url} has the same system credentials")


def _refresh(
    admin: hvac.Client, plan: InitPlan, stored: dict[str, Any], say: Say
) -> dict[str, AppRoleLogin]:
    """Seeded before: apply the current policies and limits, keep each long-lived login that
    still works, and issue the short-lived ones anew."""
    if any(role not in stored for role in PROCESS_ROLES):
        # Seeded by a version with one role for the API and the CLI: add the roles now.
        return seed_approles(admin, {role: plan.limits(role) for role in PROCESS_ROLES})
    logins: dict[str, AppRoleLogin] = {}
    for role in PROCESS_ROLES:
        apply_role(admin, role, plan.limits(role))
        login = AppRoleLogin(**stored[role])
        if role in RENEWED_EVERY_RUN or not _logs_in(admin.url, login):
            if role not in RENEWED_EVERY_RUN:
                say(f"vault-init: the {role} login stopped working; issuing a new secret id")
            login = AppRoleLogin(role_id=login.role_id, secret_id=new_secret_id(admin, role))
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
