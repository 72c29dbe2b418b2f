"""The HTTP error rules one by one, on the real stack: a vendor onboarding whose ERP create
meets one answer (scoped to that run), and what the run and its audit rows show."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from domain.contract import vendor_onboarding_id
from tests.helpers import (
    audit_rows,
    failure_of,
    for_run,
    new_application_id,
    result_of,
    start,
)

CREATE = {"path": "/vendors$", "method": "POST", "count": 1}


async def _start_meeting(client, settings, admin, rule):
    """A run whose ERP create meets `rule` (this run's creates only)."""
    key = new_application_id()
    scoped = for_run(vendor_onboarding_id(key), rule)
    admin.put("/_admin/faults/erp", json=scoped).raise_for_status()
    return await start(client, settings, application_id=key)


def _creates(settings, workflow_id: str) -> list[tuple[int | None, str | None]]:
    return [
        (r.status, r.error_code)
        for r in audit_rows(settings, workflow_id)
        if r.system == "erp" and r.method == "POST" and r.path == "/vendors"
    ]


@pytest.mark.parametrize("answer", [408, 409], ids=["timeout-408", "conflict-409"])
async def test_a_408_or_409_is_retried(client, settings, admin, answer):
    key = new_application_id()
    rule = CREATE | {"status": answer, "code": "TRY_AGAIN_LATER"}
    admin.put(
        "/_admin/faults/erp", json=for_run(vendor_onboarding_id(key), rule)
    ).raise_for_status()

    handle = await start(client, settings, application_id=key)
    result = await result_of(handle)

    assert result.vendor_id
    assert _creates(settings, handle.id) == [(answer, "TRY_AGAIN_LATER"), (201, None)]


async def test_a_429_with_retry_after_as_an_http_date_is_retried(client, settings, admin):
    # A date a second from now: the retry policy's own backoff decides when to try again.
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=1), usegmt=True)
    handle = await _start_meeting(
        client, settings, admin, CREATE | {"status": 429, "retry_after": when}
    )
    result = await result_of(handle)

    assert result.vendor_id
    assert _creates(settings, handle.id) == [(429, "RATE_LIMITED"), (201, None)]


async def test_an_idempotency_key_reused_conflict_is_permanent(client, settings, admin):
    key = new_application_id()
    rule = CREATE | {"status": 409, "code": "IDEMPOTENCY_KEY_REUSED"}
    admin.put(
        "/_admin/faults/erp", json=for_run(vendor_onboarding_id(key), rule)
    ).raise_for_status()

    handle = await start(client, settings, application_id=key)
    error = await failure_of(handle)

    assert error.type == "IDEMPOTENCY_KEY_REUSED"
    assert _creates(settings, handle.id) == [(409, "IDEMPOTENCY_KEY_REUSED")]  # not retried


async def test_a_malformed_2xx_is_permanent_and_names_the_system_and_endpoint(
    client, settings, admin
):
    key = new_application_id()
    rule = CREATE | {"malformed": True}
    admin.put(
        "/_admin/faults/erp", json=for_run(vendor_onboarding_id(key), rule)
    ).raise_for_status()

    handle = await start(client, settings, application_id=key)
    error = await failure_of(handle)

    assert error.type == "MALFORMED_RESPONSE"
    assert "erp POST /vendors answered 200" in error.message
    assert len(_creates(settings, handle.id)) == 1  # not retried
