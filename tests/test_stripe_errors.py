"""Stripe's error shape through the one classifier (a unit test of a pure function; the same
answers from the sandbox's emulation are exercised end to end in tests/test_invoice.py)."""

import json
from datetime import timedelta

import httpx
import pytest

from activities.errors import classify_status


def _answer(
    status: int, error: dict[str, str], headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(status, content=json.dumps({"error": error}).encode(), headers=headers)


def test_a_refused_request_is_permanent_named_by_its_code_and_param() -> None:
    error = classify_status(
        "billing",
        "POST",
        "/v1/invoiceitems",
        _answer(
            400,
            {
                "type": "invalid_request_error",
                "code": "parameter_missing",
                "param": "customer",
                "message": "Missing required param: customer.",
            },
        ),
    )
    assert error.non_retryable and error.type == "parameter_missing"
    assert "(param customer)" in str(error) and "Missing required" not in str(error)


def test_a_reused_idempotency_key_is_its_own_permanent_code() -> None:
    error = classify_status(
        "billing",
        "POST",
        "/v1/invoices",
        _answer(400, {"type": "idempotency_error", "message": "x"}),
    )
    assert error.non_retryable and error.type == "idempotency_error"


@pytest.mark.parametrize(
    ("status", "kind", "delay"),
    [
        (429, "rate_limit_error", timedelta(seconds=3)),
        (500, "api_error", None),
        (503, "api_error", None),
    ],
)
def test_rate_limits_and_api_errors_are_retried(
    status: int, kind: str, delay: timedelta | None
) -> None:
    headers = {"Retry-After": "3"} if status == 429 else None
    error = classify_status(
        "billing", "GET", "/v1/invoices", _answer(status, {"type": kind, "message": "x"}, headers)
    )
    assert not error.non_retryable and error.type == kind
    assert error.next_retry_delay == delay
