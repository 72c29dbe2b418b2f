"""The API's one error shape, `{"error": {"code", "message"}}`, and the handlers that make every
failure answer in it: our own refusals, FastAPI's validation errors, Starlette's 404 and 405,
Vault or Temporal being down, and anything unexpected.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError, RPCStatusCode

from runtime.vault import SecretUnavailable
from starters.approvals import DecisionUnconfirmed
from starters.start import RerunRefused, StartRefused

log = logging.getLogger(__name__)

# The code of an error Starlette or FastAPI raise with a bare status.
_CODE_OF_STATUS = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}

# What each status means anywhere in the API (the OpenAPI descriptions of error responses).
_MEANING = {
    400: "`INVALID_JSON`: the body is not JSON.",
    401: "`UNAUTHENTICATED` (no credential) or `INVALID_CREDENTIALS`; see `WWW-Authenticate`.",
    403: "`INSUFFICIENT_SCOPE`: the credential lacks the scope this operation needs.",
    404: "`NOT_FOUND`: no such route.",
    405: "`METHOD_NOT_ALLOWED`.",
    409: "The request conflicts with the state of the workflow.",
    413: "`PAYLOAD_TOO_LARGE`: the body is over `BACKOFFICE_API_MAX_BODY_BYTES`.",
    415: "`UNSUPPORTED_MEDIA_TYPE`: send the body as `application/json`.",
    422: "`VALIDATION_ERROR`: `fields` names every bad field and what is wrong (never its value).",
    429: "`SIGN_IN_LOCKED`: too many wrong passwords for this approver id (HTTP Basic); the id "
    "is refused, whatever the password, until `Retry-After` seconds have passed.",
    503: "`SECRETS_UNAVAILABLE` or `TEMPORAL_UNAVAILABLE`: try again later.",
}


class FieldProblem(BaseModel):
    field: str = Field(description="Dotted path of the field, e.g. `bank_account.iban`.")
    problem: str


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, machine-readable: `VALIDATION_ERROR`, `WRONG_ROLE`, ...")
    message: str = Field(description="For people: what was wrong and what to do.")
    fields: list[FieldProblem] | None = Field(
        default=None, description="`VALIDATION_ERROR` only: every bad field."
    )
    approval_status: str | None = Field(
        default=None, description="`ALREADY_DECIDED` only: how the approval ended."
    )


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class ApiError(Exception):
    """A refusal the API answers with `status` and the error shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: list[FieldProblem] | None = None,
        approval_status: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.detail = ErrorDetail(
            code=code, message=message, fields=fields, approval_status=approval_status
        )
        self.headers = headers


def error_response(
    status: int, detail: ErrorDetail, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": detail.model_dump(exclude_none=True)}, status_code=status, headers=headers
    )


def error_responses(*statuses: int, **meanings: str) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each status with the error model and what it means there.

    `meanings` overrides the general meaning per status, keyed `s403="..."`. A route that
    checks credentials (401) may also refuse a locked approver id (429).
    """
    if 401 in statuses and 429 not in statuses:
        statuses = (*statuses, 429)
    return {
        status: {
            "model": ErrorResponse,
            "description": meanings.get(f"s{status}", _MEANING.get(status, "Error.")),
        }
        for status in statuses
    }


def field_problems(errors: list[Any], *, skip_location: bool = False) -> list[FieldProblem]:
    """Pydantic errors as fields and problems, said as `domain.validation` says them."""
    problems = []
    for err in errors:
        loc = [str(part) for part in err["loc"]]
        if skip_location and len(loc) > 1:
            loc = loc[1:]  # FastAPI's ("query", "role") -> "role"
        field = ".".join(loc)[:200] or "body"
        problem = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        problems.append(FieldProblem(field=field, problem=problem))
    return problems


def validation_message(problems: list[FieldProblem]) -> str:
    listed = "; ".join(f"{p.field}: {p.problem}" for p in problems)
    return f"{len(problems)} invalid field{'s' if len(problems) != 1 else ''}: {listed}"


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.detail, exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODE_OF_STATUS.get(exc.status_code, f"HTTP_{exc.status_code}")
    message = exc.detail if isinstance(exc.detail, str) else code
    if exc.status_code == 404:
        message = f"no route {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, ErrorDetail(code=code, message=message), headers)


async def _request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(err["type"] == "json_invalid" for err in errors):
        return error_response(
            400, ErrorDetail(code="INVALID_JSON", message="the request body is not valid JSON")
        )
    problems = field_problems(errors, skip_location=True)
    detail = ErrorDetail(
        code="VALIDATION_ERROR", message=validation_message(problems), fields=problems
    )
    return error_response(422, detail)


async def _secrets_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("Vault unavailable: %s", exc)  # the message names a path, never a value
    detail = ErrorDetail(
        code="SECRETS_UNAVAILABLE", message="credentials cannot be checked right now; try again"
    )
    return error_response(503, detail, {"Retry-After": "5"})


async def _temporal_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RPCError)
    # CANCELLED: the client's own deadline passed ("Timeout expired"), a busy server.
    busy = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)
    if exc.status in busy:
        log.warning("Temporal unavailable: %s", exc)
        detail = ErrorDetail(
            code="TEMPORAL_UNAVAILABLE", message="Temporal did not answer in time; try again"
        )
        return error_response(503, detail, {"Retry-After": "5"})
    log.error("Temporal refused a call: %s (%s)", exc, exc.status)
    # What Temporal said stays in the log: it can name internals the caller has no use for.
    detail = ErrorDetail(code="TEMPORAL_ERROR", message="Temporal refused the call; it is logged")
    return error_response(502, detail)


async def _decision_unconfirmed(request: Request, exc: Exception) -> JSONResponse:
    log.warning("decision not confirmed in time: %s", exc)
    detail = ErrorDetail(code="TEMPORAL_UNAVAILABLE", message=str(exc))
    return error_response(503, detail, {"Retry-After": "5"})


async def _rerun_refused(request: Request, exc: Exception) -> JSONResponse:
    return error_response(409, ErrorDetail(code="RERUN_REFUSED", message=str(exc)))


async def _start_refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StartRefused)
    problems = [FieldProblem(field=exc.field, problem=exc.problem)]
    detail = ErrorDetail(
        code="VALIDATION_ERROR", message=validation_message(problems), fields=problems
    )
    return error_response(422, detail)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    detail = ErrorDetail(code="INTERNAL_ERROR", message="unexpected error; it has been logged")
    return error_response(500, detail)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(SecretUnavailable, _secrets_unavailable)
    app.add_exception_handler(RPCError, _temporal_error)
    app.add_exception_handler(DecisionUnconfirmed, _decision_unconfirmed)
    app.add_exception_handler(RerunRefused, _rerun_refused)
    app.add_exception_handler(StartRefused, _start_refused)
    app.add_exception_handler(Exception, _unexpected)
