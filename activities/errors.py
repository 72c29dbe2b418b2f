"""Error classification, in one place: which answers of an external system are worth a retry."""

import json
from datetime import timedelta

import aiosmtplib
import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.errors import ErrorCode
from domain.metrics import EXTERNAL_API_ERRORS

RETRYABLE_4XX = {408, 409, 429}
# Conflicts that no retry can resolve, although 409 is otherwise retryable.
PERMANENT_CONFLICT_CODES = {"IDEMPOTENCY_KEY_REUSED", "idempotency_error"}


def _error_field(body: bytes, name: str) -> str | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    value = error.get(name) if isinstance(error, dict) else None
    return value if isinstance(value, str) and value else None


def system_error_code(body: bytes) -> str | None:
    """The `error.code` of a JSON error body, else its `error.type` (Stripe's shape
    `{"error": {"type", "code", "param", "message"}}`: an `idempotency_error` has no code)."""
    return _error_field(body, "code") or _error_field(body, "type")


def retry_after(response: httpx.Response) -> timedelta | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return timedelta(seconds=max(0.0, float(value)))
    except ValueError:
        return None  # an HTTP date: leave the delay to the retry policy


def classify_status(
    system: str, method: str, path: str, response: httpx.Response
) -> ApplicationError:
    """The error for a non-2xx answer. Its message names system, call, status and code, no body."""
    status = response.status_code
    code = system_error_code(response.content) or f"HTTP_{status}"
    where = f"{system} {method} {path} answered {status} {code}"
    # Stripe names the request parameter it refused; its message may quote values, so not that.
    param = _error_field(response.content, "param")
    if param:
        where += f" (param {param})"
    if status == 429:
        return ApplicationError(where, type=code, next_retry_delay=retry_after(response))
    if 400 <= status < 500 and (status not in RETRYABLE_4XX or code in PERMANENT_CONFLICT_CODES):
        return ApplicationError(where, type=code, non_retryable=True)
    return ApplicationError(where, type=code)


# Slack answers its errors with HTTP 200 and `{"ok": false, "error": "<code>"}`; these codes
# are passing trouble on Slack's side, worth another attempt. Every other code is permanent.
SLACK_TRANSIENT = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
}


def body_error_code(body: bytes) -> str | None:
    """The error code of a 2xx answer that is a refusal (Slack's `ok: false`), else None."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or parsed.get("ok") is not False:
        return None
    error = parsed.get("error")
    return error if isinstance(error, str) and error else "unknown_error"


def classify_body_error(system: str, method: str, path: str, code: str) -> ApplicationError:
    """A refusal inside a 2xx answer: retried only when the code says Slack was in trouble."""
    where = f"{system} {method} {path} answered ok=false {code}"
    return ApplicationError(where, type=code, non_retryable=code not in SLACK_TRANSIENT)


def classify_transport(
    system: str, method: str, path: str, exc: httpx.HTTPError
) -> ApplicationError:
    """Timeouts and connection errors: retryable."""
    return ApplicationError(
        f"{system} {method} {path} failed: {type(exc).__name__}", type=ErrorCode.HTTP_ERROR
    )


def malformed(system: str, method: str, path: str, status: int, model: str) -> ApplicationError:
    """A 2xx whose body does not parse: retrying would only repeat it."""
    return ApplicationError(
        f"{system} {method} {path} answered {status} with a body that is not a valid {model}",
        type=ErrorCode.MALFORMED_RESPONSE,
        non_retryable=True,
    )


def count_failed_attempt(system: str, code: str) -> None:
    """Count one failed HTTP attempt (an audit row with an error code) on the worker's metrics
    endpoint, by system and code; the SDK adds the activity type and task queue."""
    if not activity.in_activity():
        return
    errors = activity.metric_meter().create_counter(
        EXTERNAL_API_ERRORS, "Failed HTTP attempts to external systems, by system and error code"
    )
    errors.add(1, {"system": system, "code": code})


# Failures of the connection itself (refused, timed out, dropped mid-conversation): retried.
SMTP_CONNECTION_ERRORS = (
    aiosmtplib.SMTPConnectError,
    aiosmtplib.SMTPServerDisconnected,
    aiosmtplib.SMTPTimeoutError,
)


def smtp_failure(exc: Exception) -> tuple[int | None, str]:
    """The reply code of a failed SMTP attempt (None: no reply, the connection failed) and the
    code its audit row and metric get."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code > 0:
        return exc.code, f"SMTP_{exc.code}"
    return None, type(exc).__name__


def classify_smtp(system: str, relay: str, exc: Exception) -> ApplicationError:
    """A failed SMTP attempt. 4xx replies and connection errors are retried; 5xx replies are
    permanent with their code; a login refused with a 5xx is permanent and names the system and
    where its credentials live. The message never holds the relay's text (it may echo an address).
    """
    status, code = smtp_failure(exc)
    where = f"{system} SMTP {relay}"
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError) and status is not None and status >= 500:
        return ApplicationError(
            f"{where} refused the login ({status}): check the username and password of the "
            f"{system} system in Vault (secret/backoffice/systems/{system})",
            type=ErrorCode.SMTP_AUTH_FAILED,
            non_retryable=True,
        )
    if status is not None:
        return ApplicationError(
            f"{where} answered {status}", type=code, non_retryable=status >= 500
        )
    if isinstance(exc, aiosmtplib.SMTPException) and not isinstance(exc, SMTP_CONNECTION_ERRORS):
        # aiosmtplib's own refusals: no STARTTLS, no AUTH offered, no SMTPUTF8.
        return ApplicationError(
            f"{where}: {exc.message} (check BACKOFFICE_SMTP_SECURITY, BACKOFFICE_SMTP_PORT and "
            f"whether the relay wants a login at secret/backoffice/systems/{system})",
            type=ErrorCode.SMTP_NOT_SUPPORTED,
            non_retryable=True,
        )
    return ApplicationError(f"{where} failed: {code}", type=ErrorCode.SMTP_CONNECTION_ERROR)
