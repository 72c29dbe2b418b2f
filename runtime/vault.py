"""Vault through AppRole: KV v2 secrets read by reference, cached briefly, never logged; and the
transit engine's data keys for payload encryption (`TransitKeys`)."""

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import hvac
import hvac.exceptions
import requests

from runtime.codec import PayloadDecryptionError, key_id_of
from runtime.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")


class SecretUnavailable(Exception):
    """Vault could not give a secret; the message names the path and the reason, never a value."""


class VaultRefused(SecretUnavailable):
    """Vault answered that the request itself is wrong (400): asking again will not help."""


class VaultLoginFailed(SecretUnavailable):
    """The AppRole login was refused: the process must not run without its credentials."""


class VaultUnreachable(SecretUnavailable):
    """No answer from Vault at its address: it is not running, or the address is wrong."""

    def __init__(self, addr: str) -> None:
        super().__init__(
            f"Vault unreachable at {addr}: start it with `backoffice dev up` or set "
            "BACKOFFICE_VAULT_ADDR"
        )


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
        except requests.RequestException:
            raise VaultUnreachable(self._client.url) from None
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

    async def write(self, path: str, data: dict[str, Any]) -> None:
        """Store `data` at `path` (relative to the prefix), replacing what was there."""
        full = f"{self._prefix}/{path}"
        async with self._lock:
            await asyncio.to_thread(
                self._with_login,
                f"writing {full}",
                f"no place for {full} in Vault",
                lambda: self._client.secrets.kv.v2.create_or_update_secret(
                    path=full, secret=data, mount_point=self._kv_mount
                ),
            )
        self._cache.pop(path, None)

    def forget(self, path: str) -> None:
        """Drop a cached secret (after a 401 from its system), so the next read goes to Vault."""
        self._cache.pop(path, None)

    def _read_with_relogin(self, path: str) -> dict[str, Any]:
        full = f"{self._prefix}/{path}"
        response = self._with_login(
            f"reading {full}",
            f"no secret at {full} in Vault",
            lambda: self._client.secrets.kv.v2.read_secret_version(
                path=full, mount_point=self._kv_mount, raise_on_deleted_version=True
            ),
        )
        data: dict[str, Any] = response["data"]["data"]
        return data

    async def transit(self, what: str, missing: str, call: Callable[[hvac.Client], T]) -> T:
        """Run one transit request (logged in, once more after a denial); errors name `what`."""
        async with self._lock:
            return await asyncio.to_thread(
                self._with_login, what, missing, lambda: call(self._client)
            )

    def _with_login(self, what: str, missing: str, call: Callable[[], T]) -> T:
        for attempt in (1, 2):
            if not self._client.token:
                self.login()
            try:
                return call()
            except hvac.exceptions.Forbidden:
                # An expired or revoked token looks like a denied request: log in again once.
                if attempt == 2:
                    raise SecretUnavailable(f"Vault denied {what}") from None
                self._client.token = ""
            except hvac.exceptions.InvalidPath:
                raise SecretUnavailable(missing) from None
            except hvac.exceptions.InvalidRequest:
                raise VaultRefused(f"Vault refused {what} (invalid request)") from None
            except hvac.exceptions.VaultDown:
                raise SecretUnavailable("Vault is sealed or down") from None
            except requests.RequestException:
                raise VaultUnreachable(self._client.url) from None
        raise SecretUnavailable(f"Vault denied {what}")


class TransitKeys:
    """Data keys of one transit key (envelope encryption, `runtime.codec.KeyWrapper`): a new
    256-bit key with its wrapped form, and the plaintext of a wrapped one. Transit keeps every
    version of its key, so data keys wrapped before a rotation of the transit key still open."""

    def __init__(self, store: SecretStore, key_name: str, *, mount: str = "transit") -> None:
        self._store = store
        self._key = key_name
        self._mount = mount

    async def new_data_key(self) -> tuple[bytes, str]:
        response = await self._store.transit(
            f"creating a data key with transit key {self._mount}/{self._key}",
            f"no transit key {self._mount}/{self._key} in Vault",
            lambda vault: vault.secrets.transit.generate_data_key(  # type: ignore[no-untyped-call]
                name=self._key, key_type="plaintext", bits=256, mount_point=self._mount
            ),
        )
        wrapped: str = response["data"]["ciphertext"]
        return _base64(response["data"]["plaintext"], self._key), wrapped

    async def unwrap(self, wrapped: str) -> bytes:
        try:
            response = await self._store.transit(
                f"decrypting a data key with transit key {self._mount}/{self._key}",
                f"no transit key {self._mount}/{self._key} in Vault",
                lambda vault: vault.secrets.transit.decrypt_data(
                    name=self._key, ciphertext=wrapped, mount_point=self._mount
                ),
            )
        except VaultRefused:
            raise PayloadDecryptionError(
                f"data key {key_id_of(wrapped)} is not one transit key "
                f"{self._mount}/{self._key} wrapped (or that key version is gone)"
            ) from None
        return _base64(response["data"]["plaintext"], self._key)


def _base64(value: str, key: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SecretUnavailable(f"Vault answered a data key of {key} that is not base64") from None


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
