"""The sandbox app (stand-ins for the external systems): command line, readiness, credentials."""

import sys
from collections.abc import Callable

import httpx
from sqlalchemy.engine import make_url

from devstack.errors import StackError
from domain.slack import SLACK_INTERACTIVITY_PATH
from domain.systems import System

# The systems the sandbox stands in for: all but mail, which is SMTP (mailpit in the dev stack).
SANDBOX_SYSTEMS = frozenset(System) - {System.MAIL}


class CredentialsRejected(StackError):
    """The sandbox did not take the credentials just seeded into Vault."""


def server_command(*, host: str, port: int, database_url: str) -> list[str]:
    argv = [
        sys.executable, "-m", "sandbox",
        "--host", host,
        "--port", str(port),
    ]  # fmt: skip
    if not _has_password(database_url):
        argv += ["--database-url", database_url]
    return argv


def server_env(admin_token: str, database_url: str) -> dict[str, str]:
    """The admin token, and a database URL holding a password, go in through the environment,
    so `ps` does not show them."""
    env = {"SANDBOX_ADMIN_TOKEN": admin_token}
    if _has_password(database_url):
        env["SANDBOX_DATABASE_URL"] = database_url
    return env


def _has_password(database_url: str) -> bool:
    return make_url(database_url).password is not None


def probe(url: str) -> str | None:
    """None when GET /_admin/health answers 200."""
    try:
        response = httpx.get(f"{url}/_admin/health", timeout=2.0, trust_env=False)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if response.status_code == 200 else f"health answered {response.status_code}"


def admin_client(url: str, admin_token: str) -> httpx.Client:
    """An httpx client for the sandbox's admin endpoints (the caller closes it)."""
    return httpx.Client(
        base_url=url, headers={"X-Admin-Token": admin_token}, timeout=10.0, trust_env=False
    )


def credentials_body(system: System, creds: dict[str, str]) -> dict[str, object]:
    """The body of PUT /_admin/credentials/{system} for the credentials kept in Vault."""
    if system is System.ERP:
        return {"username": creds["username"], "password": creds["password"]}
    if system is System.CRM:
        return {"client_id": creds["client_id"], "client_secret": creds["client_secret"]}
    if system is System.SLACK:
        return {"api_keys": [creds["bot_token"]]}
    return {"api_keys": [creds["api_key"]]}


def push_webhook_targets(
    client: httpx.Client,
    api_url: str,
    secrets: dict[System, str],
    warn: Callable[[str], None],
) -> None:
    """Tell the sandbox to send each system's webhooks to the API, signed with the first
    secret Vault holds for that system."""
    not_taken: list[str] = []
    for system, secret in secrets.items():
        path = f"/_admin/webhooks/{system.value}"
        body: dict[str, str] = {"url": f"{api_url}/webhooks/{system.value}", "secret": secret}
        if system is System.SLACK:  # not a webhook: where the Slack page's clicks go
            path = "/_admin/slack/interactivity"
            body = {"url": f"{api_url}{SLACK_INTERACTIVITY_PATH}", "signing_secret": secret}
        try:
            response = client.put(path, json=body)
        except httpx.HTTPError as exc:
            raise CredentialsRejected(f"PUT {path} failed: {exc}") from exc
        if response.is_success:
            continue
        if response.status_code in (404, 422):
            not_taken.append(f"{system.value} ({response.status_code})")
            continue
        raise CredentialsRejected(
            f"PUT {path} answered {response.status_code}: {response.text[:300]}"
        )
    if not_taken:
        warn(
            "warning: the sandbox took no webhook target for "
            + ", ".join(not_taken)
            + "; it will not send those systems' webhooks to the API"
        )


def push_slack_users(client: httpx.Client, people: dict[str, tuple[str, str]]) -> None:
    """Tell the sandbox's Slack workspace its people: Slack user id -> (name, real name)."""
    users = [{"id": uid, "name": n, "real_name": real} for uid, (n, real) in people.items()]
    try:
        response = client.put("/_admin/slack/users", json={"users": users})
    except httpx.HTTPError as exc:
        raise CredentialsRejected(f"PUT /_admin/slack/users failed: {exc}") from exc
    if not response.is_success:
        raise CredentialsRejected(
            f"PUT /_admin/slack/users answered {response.status_code}: {response.text[:300]}"
        )


def push_credentials(client: httpx.Client, credentials: dict[System, dict[str, str]]) -> None:
    """Tell the sandbox the credentials just seeded into Vault for the systems it stands in for,
    so both sides agree."""
    for system, creds in credentials.items():
        if system not in SANDBOX_SYSTEMS:
            continue
        path = f"/_admin/credentials/{system.value}"
        try:
            response = client.put(path, json=credentials_body(system, creds))
        except httpx.HTTPError as exc:
            raise CredentialsRejected(f"PUT {path} failed: {exc}") from exc
        if not response.is_success:
            raise CredentialsRejected(
                f"PUT {path} answered {response.status_code}: {response.text[:300]}"
            )
