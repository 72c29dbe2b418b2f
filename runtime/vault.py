"""Vault (KV v2) through AppRole: secrets read by reference, cached briefly, never logged."""

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import hvac
import hvac.exceptions
import requests

from runtime.settings import Settings

log = logging.getLogger(__name__)


class SecretUnavailable(Exception):
    """Vault could not give a secret; the message names the path and the reason, never a value."""


class VaultLoginFailed(SecretUnavailable):
    """The AppRole login was refused: the process must not run without its credentials."""


class SecretStore:
    """Reads `<prefix>/<path>` from KV v2, logging in with AppRole; one instance per process."""

    def __init__(
        self,
        addr: str,
        role_id: str,
        secret_id: str,
        *,
        kv_mount: str = "secret",
        prefix: str = "backoffice",
        cache_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = hvac.Client(url=addr, timeout=10)
        self._role_id = role_id
        self._secret_id = secret_id
        self._kv_mount = kv_mount
        self._prefix = prefix
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = asyncio.Lock()
        self.logins = 0

    def login(self) -> None:
        """Log in with AppRole; raises VaultLoginFailed naming the settings to check."""
        try:
            self._client.auth.approle.login(role_id=self._role_id, secret_id=self._secret_id)
        except hvac.exceptions.VaultError as exc:
            raise VaultLoginFailed(
                "Vault AppRole login refused: check BACKOFFICE_VAULT_ROLE_ID and "
                f"BACKOFFICE_VAULT_SECRET_ID ({type(exc).__name__})"
            ) from None
        except requests.RequestException as exc:
            raise SecretUnavailable(
                f"Vault unreachable at {self._client.url} ({type(exc).__name__})"
            ) from None
        self.logins += 1

    async def read(self, path: str) -> dict[str, Any]:
        """The secret at `path` (relative to the prefix), from the cache when fresh."""
        cached = self._cache.get(path)
        if cached and self._clock() - cached[0] < self._cache_seconds:
            return cached[1]
        async with self._lock:
            data = await asyncio.to_thread(self._read_with_relogin, path)
        self._cache[path] = (self._clock(), data)
        return data

    def forget(self, path: str) -> None:
        """Drop a cached secret (after a 401 from its system), so the next read goes to Vault."""
        self._cache.pop(path, None)

    def _read_with_relogin(self, path: str) -> dict[str, Any]:
        full = f"{self._prefix}/{path}"
        for attempt in (1, 2):
            if not self._client.token:
                self.login()
            try:
                response = self._client.secrets.kv.v2.read_secret_version(
                    path=full, mount_point=self._kv_mount, raise_on_deleted_version=True
                )
                data: dict[str, Any] = response["data"]["data"]
                return data
            except hvac.exceptions.Forbidden:
                # An expired or revoked token looks like a denied read: log in again once.
                if attempt == 2:
                    raise SecretUnavailable(f"Vault denied reading {full}") from None
                self._client.token = ""
            except hvac.exceptions.InvalidPath:
                raise SecretUnavailable(f"no secret at {full} in Vault") from None
            except hvac.exceptions.VaultDown:
                raise SecretUnavailable("Vault is sealed or down") from None
            except requests.RequestException as exc:
                raise SecretUnavailable(
                    f"Vault unreachable at {self._client.url} ({type(exc).__name__})"
                ) from None
        raise SecretUnavailable(f"Vault denied reading {full}")


def secret_store(settings: Settings) -> SecretStore:
    """The store a process uses, logging in with the AppRole its settings name."""
    return SecretStore(
        settings.vault_addr,
        settings.vault_role_id,
        settings.vault_secret_id.get_secret_value(),
        kv_mount=settings.vault_kv_mount,
        prefix=settings.vault_prefix,
        cache_seconds=settings.secret_cache_seconds,
    )
