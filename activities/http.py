"""One client per external system: auth, idempotency, error classification, audit per attempt."""

import time
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.audit import AuditLog, attempt
from activities.auth import AuthScheme
from activities.errors import (
    classify_status,
    classify_transport,
    count_failed_attempt,
    malformed,
    system_error_code,
)
from activities.reruns import RERUN
from domain.errors import ErrorCode
from domain.systems import System
from runtime.vault import SecretUnavailable

M = TypeVar("M", bound=BaseModel)


def idempotency_key(step: str) -> str:
    """Derived from the workflow id and the step, never the run id: a reset or retry reuses it;
    a re-run of the key (activities/reruns.py) gets keys of its own."""
    info = activity.info()
    rerun = RERUN.get()
    return f"{info.workflow_id}/rerun-{rerun}/{step}" if rerun else f"{info.workflow_id}/{step}"


class SystemClient:
    def __init__(
        self,
        system: System,
        base_url: str,
        http: httpx.AsyncClient,
        auth: AuthScheme,
        audit: AuditLog,
    ) -> None:
        self.system = system
        self._base_url = base_url.rstrip("/")
        self._http = http
        self._auth = auth
        self._audit = audit

    async def call(
        self,
        method: str,
        path: str,
        expect: type[M],
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> M:
        """Send one request; a 401 re-reads the credentials and tries once more."""
        response = await self._attempt(method, path, json, params, idempotency_key)
        if response.status_code == 401:
            self._auth.forget()
            response = await self._attempt(method, path, json, params, idempotency_key)
        if not response.is_success:
            raise classify_status(self.system.value, method, path, response)
        try:
            return expect.model_validate_json(response.content)
        except ValidationError:
            raise malformed(
                self.system.value, method, path, response.status_code, expect.__name__
            ) from None

    async def _attempt(
        self,
        method: str,
        path: str,
        json: dict[str, Any] | None,
        params: dict[str, str] | None,
        idempotency_key: str | None,
    ) -> httpx.Response:
        try:
            headers = await self._auth.headers()
        except SecretUnavailable as exc:
            raise ApplicationError(str(exc), type=ErrorCode.SECRET_UNAVAILABLE) from None
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        started = time.perf_counter()
        try:
            response = await self._http.request(
                method, self._base_url + path, json=json, params=params, headers=headers
            )
        except httpx.HTTPError as exc:
            await self._audit.record(
                attempt(self.system, method, path, None, started, type(exc).__name__, json, b"")
            )
            count_failed_attempt(self.system.value, type(exc).__name__)
            raise classify_transport(self.system.value, method, path, exc) from None
        code = None if response.is_success else system_error_code(response.content)
        code = code or (None if response.is_success else f"HTTP_{response.status_code}")
        if code is not None:
            count_failed_attempt(self.system.value, code)
        await self._audit.record(
            attempt(
                self.system,
                method,
                path,
                response.status_code,
                started,
                code,
                json,
                response.content,
            )
        )
        return response
