"""Seed a Vault: system credentials, webhook secrets, the approver directory, the API's
credentials (salted hashes), the approve-by-link signing key, the payload transit key, the codec
server's bearer token, and the AppRoles the worker and the clients log in with.

Seeding keeps what is there: a value Vault already holds stays; a value missing from Vault is
taken from the seed record (`devstack.seed_record`, what the last seeding wrote), else made new
at random. So a restarted in-memory Vault gets the same credentials again, and a seeding of a
running or file-storage Vault changes nothing. The caller pushes the system credentials to the
sandbox so both sides agree, and keeps the API credentials' plain text for the demo.
"""

import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import requests

from devstack.seed_record import SeedRecord
from devstack.state import write_private
from domain.credentials import CredentialKind, CredentialRecord, Scope
from domain.systems import System
from runtime.credentials import hash_secret, verify_secret

KV_MOUNT = "secret"
PREFIX = "backoffice"
TRANSIT_MOUNT = "transit"
TRANSIT_KEY = "backoffice-payloads"
APPROLE_MOUNT = "approle"
WORKER_ROLE = "backoffice-worker"
CLIENT_ROLE = "backoffice-client"  # the dev stack's API and CLI share it (one machine)
# The compose shape gives each process its own role, with only what it reads (docs/security.md).
API_ROLE = "backoffice-api"
SCHEDULES_ROLE = "backoffice-schedules"
CLI_ROLE = "backoffice-cli"
TOKEN_TTL = "1h"  # noqa: S105 (a duration)
TOKEN_MAX_TTL = "4h"  # noqa: S105
# Slack signs its interactivity requests (clicks in approval messages) with these secrets.
WEBHOOK_SYSTEMS = (System.CRM, System.BILLING, System.ESIGN, System.SLACK)
# The bearer token of the codec server (/codec on the API), for the Temporal Web UI.
CODEC_TOKEN_PATH = "codec/token"  # noqa: S105 (a path)
KV_READY_TIMEOUT = 30.0  # seconds

# Demo people of the approver directory; `rory` only requests, `olga` approves for two teams.
# Each has a Slack user id (the sandbox's workspace): approval messages go to them directly.
APPROVERS: dict[str, tuple[str, list[str]]] = {
    "pat": ("Pat Procurement", ["procurement"]),
    "lena": ("Lena Lead", ["procurement-lead"]),
    "fiona": ("Fiona Finance", ["finance"]),
    "frank": ("Frank Finance-Lead", ["finance-lead"]),
    "sam": ("Sam Sales", ["sales-manager", "sales"]),
    "dora": ("Dora Director", ["sales-director"]),
    "carla": ("Carla Collections", ["collections"]),
    "rory": ("Rory Requester", []),
    "olga": ("Olga Operator", ["procurement", "finance"]),
    "omar": ("Omar Operations", ["operations"]),  # the review queue (runs that need attention)
    "opal": ("Opal Ops-Lead", ["operations-lead"]),
}
EMAIL_DOMAIN = "company.example"

# Demo service clients of the HTTP API and their scopes; every approver also gets a password.
API_CLIENTS: dict[str, list[Scope]] = {
    "svc-onboarding": [Scope.START, Scope.READ],
    "svc-reader": [Scope.READ],
}
APPROVER_SCOPES = [Scope.READ, Scope.DECIDE]

_TRANSIT_RULES = f"""
path "{TRANSIT_MOUNT}/encrypt/{TRANSIT_KEY}" {{ capabilities = ["update"] }}
path "{TRANSIT_MOUNT}/decrypt/{TRANSIT_KEY}" {{ capabilities = ["update"] }}
path "{TRANSIT_MOUNT}/datakey/+/{TRANSIT_KEY}" {{ capabilities = ["update"] }}
"""


def _read(*folders: str) -> str:
    return "".join(
        f'path "{KV_MOUNT}/data/{PREFIX}/{folder}/*" {{ capabilities = ["read"] }}\n'
        for folder in folders
    )


# The approve-by-link signing key: the worker signs the links it mails, the API checks them.
LINK_SIGNING_KEY = "links/signing-key"
_LINK_KEY_RULE = (
    f'path "{KV_MOUNT}/data/{PREFIX}/{LINK_SIGNING_KEY}" {{ capabilities = ["read"] }}\n'
)

# The API rehashes a credential of an older scheme at its next sign-in (starters/api/auth.py).
_REHASH_RULES = "".join(
    f'path "{KV_MOUNT}/data/{PREFIX}/{folder}/*" {{ capabilities = ["read", "update"] }}\n'
    for folder in ("api-clients", "approver-credentials")
)

# What each process reads (grep the code for `secrets.read`): the worker its systems' logins,
# the directory and the link key; the API the directory, the webhook secrets, the codec token,
# the credential hashes and the link key; `schedules create` nothing but the payload key; the
# CLI the directory (`approve`/`void --as`). Everyone seals and opens payloads (transit).
# The API also reads the Slack bot token: a click is answered at once (views.open, ephemeral).
_SLACK_TOKEN_RULE = f'path "{KV_MOUNT}/data/{PREFIX}/systems/slack" {{ capabilities = ["read"] }}\n'
_API_RULES = (
    _read("directory", "webhooks", "codec")
    + _SLACK_TOKEN_RULE
    + _REHASH_RULES
    + _LINK_KEY_RULE
    + _TRANSIT_RULES
)
POLICIES: dict[str, str] = {
    WORKER_ROLE: _read("systems", "directory") + _LINK_KEY_RULE + _TRANSIT_RULES,
    CLIENT_ROLE: _API_RULES,
    API_ROLE: _API_RULES,
    SCHEDULES_ROLE: _TRANSIT_RULES,
    CLI_ROLE: _read("directory") + _TRANSIT_RULES,
}
# The dev stack's roles; `seed(roles=...)` takes others (deploy/vault_init.py).
DEV_ROLES = (WORKER_ROLE, CLIENT_ROLE)


@dataclass(frozen=True)
class RoleLimits:
    """How long a role's secret ids live (seconds, 0: until destroyed) and where from they
    and their tokens may be used (CIDRs, empty: anywhere)."""

    secret_id_ttl: int = 0
    bound_cidrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class AppRoleLogin:
    """What a process needs to log in with AppRole."""

    role_id: str
    secret_id: str


@dataclass(frozen=True)
class ApiCredentials:
    """The plain text of the API's demo credentials: what a caller sends."""

    api_clients: dict[str, str]  # client id -> "<client_id>.<secret>" (the bearer token)
    approvers: dict[str, str]  # approver id -> password
    codec_token: str = ""  # the codec server's bearer token


@dataclass(frozen=True)
class SeedResult:
    """What others need: the random system credentials (to push to the sandbox), the first
    webhook secret of each system (for the sandbox to sign with), the API's demo credentials,
    and an AppRole login per role."""

    system_credentials: dict[System, dict[str, str]]
    webhook_secrets: dict[System, str]
    api_credentials: ApiCredentials
    logins: dict[str, AppRoleLogin]

    @property
    def worker(self) -> AppRoleLogin:
        return self.logins[WORKER_ROLE]

    @property
    def client(self) -> AppRoleLogin:
        return self.logins[CLIENT_ROLE]


def vault_client(addr: str, token: str | None = None, timeout: int = 10) -> hvac.Client:
    """An hvac client for a loopback Vault that ignores any proxy settings of the environment."""
    session = requests.Session()
    session.trust_env = False
    return hvac.Client(url=addr, token=token, session=session, timeout=timeout)


def _random(length: int = 32) -> str:
    return secrets.token_urlsafe(length)


def system_credentials() -> dict[System, dict[str, str]]:
    """Fresh credentials for every system, shaped as its auth scheme needs."""
    creds: dict[System, dict[str, str]] = {}
    for system in System:
        if system is System.ERP:
            creds[system] = {"username": "svc-backoffice", "password": _random()}
        elif system is System.CRM:
            creds[system] = {"client_id": f"backoffice-{_random(6)}", "client_secret": _random()}
        elif system is System.SLACK:
            creds[system] = {"bot_token": f"xoxb-sandbox-{_random()}"}
        elif system is System.MAIL:
            # The SMTP login (mailpit's): mail is not a sandbox system.
            creds[system] = {"username": "backoffice", "password": _random()}
        else:
            creds[system] = {"api_key": f"{system.value}_{_random()}"}
    return creds


def slack_user_id(person: str) -> str:
    """The demo person's user id in the sandbox's Slack workspace, e.g. `U0PAT`."""
    return f"U0{person.upper()}"


def slack_people() -> dict[str, tuple[str, str]]:
    """The demo people as the sandbox's Slack workspace knows them: user id -> (name, real
    name)."""
    return {slack_user_id(p): (p, name) for p, (name, _roles) in APPROVERS.items()}


def approver_directory() -> dict[str, Any]:
    return {
        "approvers": {
            person: {
                "name": name,
                "email": f"{person}@{EMAIL_DOMAIN}",
                "roles": roles,
                "slack_user_id": slack_user_id(person),
            }
            for person, (name, roles) in APPROVERS.items()
        }
    }


def seed(
    client: hvac.Client,
    *,
    transit_backup: Path | None = None,
    link_keys: Path | None = None,
    roles: dict[str, RoleLimits] | None = None,
    record: Path | None = None,
) -> SeedResult:
    """Write into Vault, with the root token, whatever it lacks; returns what others need.

    `transit_backup` keeps the payload key across restarts of an in-memory Vault: restored
    from that file when Vault lacks the key, else created and backed up there. `link_keys` does
    the same for the approve-by-link signing keys, so links already mailed keep working.
    `record` is the seed record: read for what Vault lacks, written with what Vault now holds."""
    _ensure_kv_v2(client)
    kept = SeedRecord.load(record)
    fresh = system_credentials()
    creds = {
        system: _keep(
            client, f"systems/{system.value}", kept.systems.get(system.value), fresh[system]
        )
        for system in System
    }
    webhooks = {
        system: _keep(
            client,
            f"webhooks/{system.value}",
            {"secrets": kept.webhooks[system.value]} if system.value in kept.webhooks else None,
            {"secrets": [_random()]},
        )["secrets"]
        for system in WEBHOOK_SYSTEMS
    }
    _keep(client, "directory/approvers", None, approver_directory())
    _seed_link_keys(client, link_keys)
    api_credentials = _seed_api_credentials(client, kept)
    codec_token = _keep(
        client,
        CODEC_TOKEN_PATH,
        {"token": kept.codec_token} if kept.codec_token else None,
        {"token": _random()},
    )["token"]
    api_credentials = ApiCredentials(
        api_clients=api_credentials.api_clients,
        approvers=api_credentials.approvers,
        codec_token=codec_token,
    )
    _seed_transit(client, transit_backup)
    logins = seed_approles(client, roles or dict.fromkeys(DEV_ROLES, RoleLimits()), kept.approles)
    if record is not None:
        SeedRecord(
            systems={system.value: values for system, values in creds.items()},
            webhooks={system.value: list(secrets) for system, secrets in webhooks.items()},
            api_clients=api_credentials.api_clients,
            approvers=api_credentials.approvers,
            codec_token=codec_token,
            approles={role: vars(login) for role, login in logins.items()},
        ).save(record)
    return SeedResult(
        system_credentials=creds,
        webhook_secrets={system: secrets[0] for system, secrets in webhooks.items()},
        api_credentials=api_credentials,
        logins=logins,
    )


def read_secret(client: hvac.Client, path: str) -> dict[str, Any] | None:
    """The secret at `<prefix>/<path>`, or None when Vault has none there."""
    try:
        answer = client.secrets.kv.v2.read_secret_version(
            path=f"{PREFIX}/{path}", mount_point=KV_MOUNT, raise_on_deleted_version=True
        )
    except hvac.exceptions.InvalidPath:
        return None
    data: dict[str, Any] = answer["data"]["data"]
    return data


def _keep(
    client: hvac.Client, path: str, kept: dict[str, Any] | None, new: dict[str, Any]
) -> dict[str, Any]:
    """What Vault holds at `path`; else `kept` (from the seed record), else `new`, written."""
    held = read_secret(client, path)
    if held is not None:
        return held
    value = kept or new
    client.secrets.kv.v2.create_or_update_secret(
        path=f"{PREFIX}/{path}", secret=value, mount_point=KV_MOUNT
    )
    return value


def write_credential(client: hvac.Client, path: str, record: CredentialRecord) -> None:
    """Store one API credential record (`api-clients/<id>` or `approver-credentials/<id>`)."""
    client.secrets.kv.v2.create_or_update_secret(
        path=f"{PREFIX}/{path}", secret=record.model_dump(exclude_none=True), mount_point=KV_MOUNT
    )


def _seed_api_credentials(client: hvac.Client, kept: SeedRecord) -> ApiCredentials:
    """A secret per demo service client and a password per approver; Vault gets the hashes.
    A kept one stays: its hash is written again only when Vault lacks it."""
    tokens: dict[str, str] = {}
    for client_id, scopes in API_CLIENTS.items():
        token = kept.api_clients.get(client_id, "")
        secret = token.removeprefix(f"{client_id}.") if token.startswith(f"{client_id}.") else ""
        secret = _credential(
            client, f"api-clients/{client_id}", secret, list(scopes), CredentialKind.SERVICE
        )
        tokens[client_id] = f"{client_id}.{secret}"
    passwords: dict[str, str] = {}
    for approver in APPROVERS:
        passwords[approver] = _credential(
            client,
            f"approver-credentials/{approver}",
            kept.approvers.get(approver, ""),
            list(APPROVER_SCOPES),
            CredentialKind.APPROVER,
        )
    return ApiCredentials(api_clients=tokens, approvers=passwords)


def _credential(
    client: hvac.Client, path: str, kept: str, scopes: list[Scope], kind: CredentialKind
) -> str:
    """The plain text of the credential at `path`: `kept` when Vault's record matches it (or
    Vault has none, then its hash is written), else a new one."""
    held = read_secret(client, path)
    if kept and held is not None and verify_secret(kept, CredentialRecord.model_validate(held)):
        return kept
    secret = (
        kept if kept and held is None else _random(18 if kind is CredentialKind.APPROVER else 32)
    )
    write_credential(client, path, hash_secret(secret, list(scopes), kind=kind))
    return secret


def _ensure_kv_v2(client: hvac.Client) -> None:
    mounts = client.sys.list_mounted_secrets_engines()  # type: ignore[no-untyped-call]
    mounts = mounts.get("data", mounts)
    mount = mounts.get(f"{KV_MOUNT}/")
    if mount is None:
        client.sys.enable_secrets_engine("kv", path=KV_MOUNT, options={"version": "2"})
    elif str((mount.get("options") or {}).get("version")) != "2":
        raise RuntimeError(f"Vault mount {KV_MOUNT}/ exists but is not KV version 2")
    wait_until_kv_serves(client)


def wait_until_kv_serves(client: hvac.Client, timeout: float = KV_READY_TIMEOUT) -> None:
    """A KV v2 mount just enabled (or just unsealed) first upgrades its storage; until then it
    answers reads with 503 and writes with "Upgrading from non-versioned to versioned data"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.secrets.kv.v2.read_configuration(mount_point=KV_MOUNT)
            return
        except hvac.exceptions.VaultError as error:
            if not _kv_upgrading(error):
                raise
        if time.monotonic() >= deadline:
            raise RuntimeError(
                f"Vault mount {KV_MOUNT}/ still upgrading its storage after {timeout:.0f} s"
            )
        time.sleep(0.1)


def _kv_upgrading(error: hvac.exceptions.VaultError) -> bool:
    if isinstance(error, hvac.exceptions.VaultDown):  # a read while upgrading: 503
        return True
    return "Upgrading from non-versioned" in str(error)  # a write while upgrading: 400


def _seed_transit(client: hvac.Client, backup: Path | None) -> None:
    mounts = client.sys.list_mounted_secrets_engines()  # type: ignore[no-untyped-call]
    if f"{TRANSIT_MOUNT}/" not in mounts.get("data", mounts):
        client.sys.enable_secrets_engine("transit", path=TRANSIT_MOUNT)
    if _transit_key_exists(client):
        return  # a running Vault, or one that keeps its storage: every version of it is there
    if backup is not None and backup.is_file():
        # Every version of the key that sealed the payloads already in Temporal's database.
        client.secrets.transit.restore_key(  # type: ignore[no-untyped-call]
            backup=backup.read_text().strip(), name=TRANSIT_KEY, mount_point=TRANSIT_MOUNT
        )
        return
    client.secrets.transit.create_key(  # type: ignore[no-untyped-call]
        name=TRANSIT_KEY,
        key_type="aes256-gcm96",
        mount_point=TRANSIT_MOUNT,
        # Only the dev stack's Vault forgets its keys; it needs a backup of this one.
        exportable=backup is not None,
        allow_plaintext_backup=backup is not None,
    )
    if backup is not None:
        save_transit_backup(client, backup)


def _transit_key_exists(client: hvac.Client) -> bool:
    try:
        client.secrets.transit.read_key(  # type: ignore[no-untyped-call]
            name=TRANSIT_KEY, mount_point=TRANSIT_MOUNT
        )
    except hvac.exceptions.InvalidPath:
        return False
    return True


def _seed_link_keys(client: hvac.Client, kept: Path | None) -> None:
    """The signing keys Vault already has (file storage), else those kept from the last
    seeding, else a new one; then kept again."""
    keys = read_link_keys(client)
    if keys is None and kept is not None and kept.is_file():
        keys = json.loads(kept.read_text())["keys"]
    keys = keys or [_random()]
    client.secrets.kv.v2.create_or_update_secret(
        path=f"{PREFIX}/{LINK_SIGNING_KEY}", secret={"keys": keys}, mount_point=KV_MOUNT
    )
    if kept is not None:
        save_link_keys(client, kept)


def read_link_keys(client: hvac.Client) -> list[str] | None:
    try:
        record = client.secrets.kv.v2.read_secret_version(
            path=f"{PREFIX}/{LINK_SIGNING_KEY}", mount_point=KV_MOUNT, raise_on_deleted_version=True
        )
    except hvac.exceptions.InvalidPath:
        return None
    return list(record["data"]["data"]["keys"])


def save_link_keys(client: hvac.Client, kept: Path) -> None:
    """Write the approve-by-link signing keys to `kept` (0600), for the next seeding."""
    write_private(kept, json.dumps({"keys": read_link_keys(client) or []}) + "\n")


def save_transit_backup(client: hvac.Client, backup: Path) -> None:
    """Write every version of the payload key to `backup` (0600), for the next seeding."""
    answer = client.secrets.transit.backup_key(  # type: ignore[no-untyped-call]
        name=TRANSIT_KEY, mount_point=TRANSIT_MOUNT
    )
    write_private(backup, answer["data"]["backup"] + "\n")


def seed_approles(
    client: hvac.Client,
    roles: dict[str, RoleLimits],
    kept: dict[str, dict[str, str]] | None = None,
) -> dict[str, AppRoleLogin]:
    """Each role with its policy and limits; a kept role id and secret id stay valid, the other
    roles get a new secret id."""
    auth_methods = client.sys.list_auth_methods()  # type: ignore[no-untyped-call]
    if f"{APPROLE_MOUNT}/" not in auth_methods.get("data", auth_methods):
        client.sys.enable_auth_method("approle", path=APPROLE_MOUNT)
    logins: dict[str, AppRoleLogin] = {}
    for role, limits in roles.items():
        apply_role(client, role, limits)
        ids = (kept or {}).get(role, {})
        if ids.get("role_id") and ids.get("secret_id"):
            logins[role] = _kept_login(client, role, ids["role_id"], ids["secret_id"])
            continue
        role_id = client.auth.approle.read_role_id(role_name=role, mount_point=APPROLE_MOUNT)
        logins[role] = AppRoleLogin(
            role_id=role_id["data"]["role_id"], secret_id=new_secret_id(client, role)
        )
    return logins


def apply_role(client: hvac.Client, role: str, limits: RoleLimits) -> None:
    """Write the role's policy and the role itself (again: both follow this code's version)."""
    client.sys.create_or_update_policy(name=role, policy=POLICIES[role])
    client.auth.approle.create_or_update_approle(
        role_name=role,
        token_policies=[role],
        token_ttl=TOKEN_TTL,
        token_max_ttl=TOKEN_MAX_TTL,
        secret_id_ttl=f"{limits.secret_id_ttl}s",
        secret_id_bound_cidrs=list(limits.bound_cidrs) or None,
        token_bound_cidrs=list(limits.bound_cidrs) or None,
        mount_point=APPROLE_MOUNT,
    )


def new_secret_id(client: hvac.Client, role: str) -> str:
    secret = client.auth.approle.generate_secret_id(role_name=role, mount_point=APPROLE_MOUNT)
    return str(secret["data"]["secret_id"])


def _kept_login(client: hvac.Client, role: str, role_id: str, secret_id: str) -> AppRoleLogin:
    """Give `role` the kept role id, and register the kept secret id unless it logs in already
    (a running or file-storage Vault)."""
    client.auth.approle.update_role_id(role_name=role, role_id=role_id, mount_point=APPROLE_MOUNT)
    trial = vault_client(client.url)
    try:
        trial.auth.approle.login(role_id=role_id, secret_id=secret_id, mount_point=APPROLE_MOUNT)
    except hvac.exceptions.VaultError:
        client.auth.approle.create_custom_secret_id(
            role_name=role, secret_id=secret_id, mount_point=APPROLE_MOUNT
        )
    else:
        trial.auth.token.revoke_self()  # type: ignore[no-untyped-call]
    return AppRoleLogin(role_id=role_id, secret_id=secret_id)
