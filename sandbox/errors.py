"""The one error shape every sandbox response uses: ``{"error": {"code": ..., "message": ...}}``.

Also installs handlers so FastAPI's own 404/405/422 answers use that shape.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

_CODES_BY_STATUS = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


class ApiError(Exception):
    """An error answer: HTTP status, a stable machine code and a sentence for humans."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        *,
        param: str | None = None,
        stripe: bool = False,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status_code = status_code
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.param = param
        self.stripe = stripe

    def response(self) -> JSONResponse:
        if self.stripe:
            return stripe_error_response(
                self.status_code, self.code, self.message, self.headers, self.param
            )
        return error_response(self.status_code, self.code, self.message, self.headers)


# Stripe's error `code` for the sandbox's own codes (the rest are lower-cased).
_STRIPE_CODES = {"NOT_FOUND": "resource_missing", "VALIDATION_ERROR": "parameter_invalid"}


def stripe_error_response(
    status_code: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    param: str | None = None,
) -> JSONResponse:
    """Stripe's shape `{"error": {"type", "code", "param", "message"}}` (billing's errors): a
    reused idempotency key is a 400 `idempotency_error`, 429 a `rate_limit_error`, 5xx an
    `api_error`, and the rest `invalid_request_error`s with a code."""
    error: dict[str, str] = {"message": message}
    if code == "IDEMPOTENCY_KEY_REUSED":
        status_code, error["type"] = 400, "idempotency_error"
    elif status_code == 429:
        error["type"] = "rate_limit_error"
    elif status_code >= 500:
        error["type"] = "api_error"
    elif status_code == 401:
        error["type"] = "authentication_error"
    else:
        error["type"] = "invalid_request_error"
        error["code"] = _STRIPE_CODES.get(code, code.lower())
    if param:
        error["param"] = param
    return JSONResponse({"error": error}, status_code=status_code, headers=dict(headers or {}))


def _is_billing(request: Request) -> bool:
    return request.url.path.startswith("/billing/")


def not_found(what: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{what} does not exist")


def validation_error(message: str) -> ApiError:
    return ApiError(422, "VALIDATION_ERROR", message)


def error_response(
    status_code: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}},
        status_code=status_code,
        headers=dict(headers or {}),
    )


def describe_validation_errors(errors: Sequence[Any]) -> str:
    """One line naming every bad field, e.g. ``body.tax_id: Field required``."""
    parts: list[str] = []
    for error in errors:
        loc = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.get("loc", ())
        ).lstrip(".")
        if error.get("type") == "json_invalid":
            parts.append("request body is not valid JSON")
            continue
        parts.append(f"{loc}: {error.get('msg', 'invalid value')}" if loc else error.get("msg", ""))
    return "; ".join(parts) or "request is not valid"


def validation_error_from(exc: ValidationError, prefix: str) -> ApiError:
    """Turn a pydantic error on a hand-validated payload into a 422 naming the fields."""
    errors = [{**error, "loc": (prefix, *error["loc"])} for error in exc.errors()]
    return validation_error(describe_validation_errors(errors))


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    exc.stripe = exc.stripe or _is_billing(request)
    return exc.response()


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODES_BY_STATUS.get(exc.status_code, f"HTTP_{exc.status_code}")
    message = {
        404: "no such route; check the system prefix and path",
        405: "method not allowed on this route",
    }.get(exc.status_code, str(exc.detail))
    shaped = stripe_error_response if _is_billing(request) else error_response
    return shaped(exc.status_code, code, message, exc.headers)


async def _on_request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    shaped = stripe_error_response if _is_billing(request) else error_response
    return shaped(422, "VALIDATION_ERROR", describe_validation_errors(exc.errors()))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The type only: a message could quote request values, and bodies are never logged.
    log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return error_response(500, "INTERNAL_ERROR", "the sandbox failed; see its log")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(Exception, _on_unexpected)
