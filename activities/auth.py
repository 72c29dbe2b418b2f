"""How each system wants its credentials presented; the credentials themselves come from Vault."""

import base64
from typing import Protocol

from domain.systems import System
from runtime.vault import SecretStore


class AuthScheme(Protocol):
    async def headers(self) -> dict[str, str]: ...

    def forget(self) -> None:
        """Called after a 401: the next `headers()` must read the credentials again."""


class _VaultCredentials:
    def __init__(self, secrets: SecretStore, system: System) -> None:
        self._secrets = secrets
        self._path = f"systems/{system.value}"

    async def _read(self) -> dict[str, str]:
        return await self._secrets.read(self._path)

    def forget(self) -> None:
        self._secrets.forget(self._path)


class BasicAuth(_VaultCredentials):
    async def headers(self) -> dict[str, str]:
        creds = await self._read()
        token = base64.b64encode(f"{creds['username']}:{creds['password']}".encode()).decode()
        return {"Authorization": f"Basic {token}"}


class ApiKeyHeader(_VaultCredentials):
    async def headers(self) -> dict[str, str]:
        return {"X-Api-Key": (await self._read())["api_key"]}


class BearerApiKey(_VaultCredentials):
    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {(await self._read())['api_key']}"}
