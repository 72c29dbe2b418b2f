"""One client per external system: auth, idempotency, error classification, audit per attempt."""

import time
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote, urlencode

import httpx
from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.audit import AuditLog, attempt
from activities.auth import AuthScheme
from activities.errors import (
    body_error_code,
    classify_body_error,
    classify_status,
    classify_transport,
    count_failed_attempt,
    malformed,
    system_error_code,
)
from activities.reruns import RERUN
from domain.errors import ErrorCode
from domain.systems import System
from runtime.circuit import Admission, Circuit, CircuitOpen
from runtime.vault import SecretUnavailable

M = TypeVar("M", bound=BaseModel)
# Slack's answers to a token it no longer takes (rotated in Vault since it was cached).
STALE_TOKEN_CODES = {"invalid_auth", "token_revoked", "token_expired"}


def path(template: str, *ids: str) -> str:
    """`template` with each `{}` replaced by an id as one percent-encoded path segment: an id
    (from a caller, or from another system) can never reach another path (`/`, `..`), add a
    query or fragment (`?`, `#`) or break the request line (control characters)."""
    segments = []
    for value in ids:
        if value in ("", ".", ".."):
            raise ApplicationError(
                f"{value!r} is not an id that can go into a URL",
                type=ErrorCode.INVALID_ID,
                non_retryable=True,
            )
        segments.append(quote(value, safe=""))
    return template.format(*segments)


def idempotency_key(step: str) -> str:
    """Derived from the workflow id and the step, never the run id: a reset or retry reuses it;
    a re-run of the key (activities/reruns.py) gets keys of its own."""
    info = activity.info()
    rerun = RERUN.get()
    return f"{info.workflow_id}/rerun-{rerun}/{step}" if rerun else f"{info.workflow_id}/{step}"


class _Body(NamedTuple):
    json: dict[str, Any] | None
    form: dict[str, str] | None

    @property
    def sent(self) -> dict[str, Any] | None:
        """What the audit summarizes (field names only)."""
        return self.json if self.json is not None else self.form


class SystemClient:
    def __init__(
        self,
        system: System,
        base_url: str,
        http: httpx.AsyncClient,
        auth: AuthScheme,
        audit: AuditLog,
        headers: dict[str, str] | None = None,
        circuit: Circuit | None = None,
        *,
        errors_in_body: bool = False,
    ) -> None:
        """`errors_in_body`: the system refuses with a 2xx and `ok: false` (Slack)."""
        self.system = system
        self._circuit = circuit
        self._errors_in_body = errors_in_body
        self._headers = dict(headers or {})
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
        form: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> M:
        """Send one request (a JSON or a form body); a 401 re-reads the credentials and tries
        once more."""
        body = _Body(json, form)
        response = await self._attempt(method, path, body, params, idempotency_key)
        if response.status_code == 401 or self._refused_credentials(response):
            self._auth.forget()
            response = await self._attempt(method, path, body, params, idempotency_key)
        if not response.is_success:
            raise classify_status(self.system.value, method, path, response)
        refused = body_error_code(response.content) if self._errors_in_body else None
        if refused is not None:
            raise classify_body_error(self.system.value, method, path, refused)
        try:
            return expect.model_validate_json(response.content)
        except ValidationError:
            raise malformed(
                self.system.value, method, path, response.status_code, expect.__name__
            ) from None

    def _refused_credentials(self, response: httpx.Response) -> bool:
        """Slack refuses a stale token with a 200 (`invalid_auth`): read it again, as a 401."""
        if not self._errors_in_body or not response.is_success:
            return False
        return body_error_code(response.content) in STALE_TOKEN_CODES

    async def _attempt(
        self,
        method: str,
        path: str,
        body: "_Body",
        params: dict[str, str] | None,
        idempotency_key: str | None,
    ) -> httpx.Response:
        try:
            headers = {**self._headers, **await self._auth.headers()}
        except SecretUnavailable as exc:
            raise ApplicationError(str(exc), type=ErrorCode.SECRET_UNAVAILABLE) from None
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if body.form is not None:  # an empty form still says what it is (Stripe insists)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        admission = await admitted(self._circuit, self._audit, self.system, method, path, body.sent)
        started = time.perf_counter()
        try:
            response = await self._http.request(
                method,
                self._base_url + path,
                json=body.json,
                content=None if body.form is None else urlencode(body.form),
                params=params,
                headers=headers,
            )
        except httpx.HTTPError as exc:
            await self._audit.record(
                attempt(
                    self.system, method, path, None, started, type(exc).__name__, body.sent, b""
                )
            )
            count_failed_attempt(self.system.value, type(exc).__name__)
            await answered(self._circuit, admission, unwell=True)
            raise classify_transport(self.system.value, method, path, exc) from None
        code = None if response.is_success else system_error_code(response.content)
        code = code or (None if response.is_success else f"HTTP_{response.status_code}")
        if code is None and self._errors_in_body:
            code = body_error_code(response.content)
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
                body.sent,
                response.content,
            )
        )
        unwell = response.status_code >= 500 or response.status_code == 429
        await answered(self._circuit, admission, unwell=unwell)
        return response


async def admitted(
    circuit: Circuit | None,
    audit: AuditLog,
    system: System,
    method: str,
    path: str,
    sent: dict[str, Any] | None,
) -> Admission | None:
    """The breaker's leave to send; while it is open, an audit row (no request sent) and a
    retryable failure whose next retry is when the breaker may let a call through again."""
    if circuit is None:
        return None
    try:
        return await circuit.admit()
    except CircuitOpen as refused:
        started = time.perf_counter()
        await audit.record(
            attempt(system, method, path, None, started, ErrorCode.CIRCUIT_OPEN, sent, b"")
        )
        raise ApplicationError(
            str(refused), type=ErrorCode.CIRCUIT_OPEN, next_retry_delay=refused.retry_in
        ) from None


async def answered(circuit: Circuit | None, admission: Admission | None, *, unwell: bool) -> None:
    """Tell the breaker how the system answered: `unwell` (a 5xx or 429, a timeout, a broken
    connection) counts against it; any other answer, a refusal too, shows it is well."""
    if circuit is None or admission is None:
        return
    if unwell:
        await circuit.failed(admission)
    else:
        await circuit.succeeded(admission)
