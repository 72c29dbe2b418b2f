"""Logging in to the stack's Vault as an AppRole, the way the worker and the clients do."""

from typing import Any

import hvac

from devstack.vault_seed import vault_client


def approle_client(env: dict[str, str]) -> hvac.Client:
    """An hvac client logged in with the AppRole of a worker_env() or client_env()."""
    vault = vault_client(env["BACKOFFICE_VAULT_ADDR"])
    vault.auth.approle.login(
        role_id=env["BACKOFFICE_VAULT_ROLE_ID"], secret_id=env["BACKOFFICE_VAULT_SECRET_ID"]
    )
    return vault


def read(vault: hvac.Client, path: str) -> dict[str, Any]:
    response = vault.secrets.kv.v2.read_secret_version(
        path=path, mount_point="secret", raise_on_deleted_version=True
    )
    data: dict[str, Any] = response["data"]["data"]
    return data
