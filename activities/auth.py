"""How each system wants its credentials presented; the credentials themselves come from Vault."""

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Protocol

import httpx
from pydantic import BaseModel, ValidationError

from activities.audit import AuditLog, attempt
from activities.errors import (
    classify_status,
    classify_transport,
    count_failed_attempt,
    malformed,
    system_error_code,
)
from domain.systems import System
from runtime.vault import SecretStore


class AuthScheme(Protocol):
    async def headers(self) -> dict[str, str]: ...

    def forget(self) -> None:
        """Called after a 401: the next `headers()` must read the credentials again."""


class _VaultCredentials:
    def __init__(self, secrets: SecretStore, system: System) -> None:
        self._secrets = secrets
        self._path = system.credentials_path

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


class SlackBotToken(_VaultCredentials):
    """Slack's Web API: the bot token (`xoxb-…`) as a Bearer token."""

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {(await self._read())['bot_token']}"}


class OAuth2ClientCredentials(_VaultCredentials):
    """Client-credentials tokens, cached until shortly before they expire; a 401 drops both."""

    def __init__(
        self,
        secrets: SecretStore,
        system: System,
        http: httpx.AsyncClient,
        token_url: str,
        audit: AuditLog,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(secrets, system)
        self._system = system
        self._http = http
        self._token_url = token_url
        self._audit = audit
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def headers(self) -> dict[str, str]:
        if self._token is None or self._clock() >= self._expires_at:
            async with self._lock:
                if self._token is None or self._clock() >= self._expires_at:
                    await self._fetch_token()
        return {"Authorization": f"Bearer {self._token}"}

    def forget(self) -> None:
        self._token = None
        super().forget()

    async def _fetch_token(self) -> None:
        creds = await self._read()
        form = {
            "grant_type": "client_credentials",
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
        }
        started = time.perf_counter()
        path = "/oauth/token"
        try:
            response = await self._http.post(self._token_url, data=form)
        except httpx.HTTPError as exc:
            await self._audit.record(
                attempt(self._system, "POST", path, None, started, type(exc).__name__, form, b"")
            )
            count_failed_attempt(self._system.value, type(exc).__name__)
            raise classify_transport(self._system.value, "POST", path, exc) from None
        code = None if response.is_success else system_error_code(response.content)
        # The response carries the token: the audit keeps only its field names.
        await self._audit.record(
            attempt(self._system, "POST", path, response.status_code, started, code, form, b"")
        )
        if not response.is_success:
            count_failed_attempt(self._system.value, code or f"HTTP_{response.status_code}")
            raise classify_status(self._system.value, "POST", path, response)
        try:
            token = _Token.model_validate_json(response.content)
        except ValidationError:
            raise malformed(
                self._system.value, "POST", path, response.status_code, "token"
            ) from None
        lifetime = float(token.expires_in)
        # Renew a little early: a tenth of the lifetime, at most a minute.
        self._expires_at = self._clock() + lifetime - min(60.0, lifetime / 10)
        self._token = token.access_token


class _Token(BaseModel):
    access_token: str
    expires_in: int = 3600
