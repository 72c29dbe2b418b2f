"""Fault injection: status/code/Retry-After, count, matching, latency, down, seeded rates."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.sandbox.conftest import error_of, events
from tests.sandbox.factories import vendor


def set_faults(admin: httpx.Client, system: str, rules: object) -> dict[str, Any]:
    response = admin.put(f"/_admin/faults/{system}", json=rules)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_rate_limit_with_retry_after(admin: httpx.Client, erp: httpx.Client) -> None:
    set_faults(admin, "erp", {"status": 429, "retry_after": 7})
    response = erp.get("/erp/vendors")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert error_of(response)["code"] == "RATE_LIMITED"


def test_retry_after_as_an_http_date(admin: httpx.Client, erp: httpx.Client) -> None:
    when = "Wed, 21 Oct 2026 07:28:00 GMT"
    set_faults(admin, "erp", {"status": 429, "retry_after": when})
    response = erp.get("/erp/vendors")
    assert response.status_code == 429
    assert response.headers["retry-after"] == when


def test_custom_status_code_and_message(admin: httpx.Client, portal: httpx.Client) -> None:
    set_faults(admin, "portal", {"status": 500, "code": "PORTAL_CRASH", "message": "boom"})
    response = portal.get("/portal/accounts")
    assert response.status_code == 500
    assert error_of(response) == {"code": "PORTAL_CRASH", "message": "boom"}
    assert "retry-after" not in response.headers


def test_default_fault_is_a_503(admin: httpx.Client, portal: httpx.Client) -> None:
    set_faults(admin, "portal", {})
    response = portal.get("/portal/accounts")
    assert response.status_code == 503
    assert error_of(response)["code"] == "INJECTED_FAULT"


def test_count_fires_on_the_next_n_requests_only(admin: httpx.Client, erp: httpx.Client) -> None:
    set_faults(admin, "erp", {"count": 2})
    statuses = [erp.get("/erp/vendors").status_code for _ in range(4)]
    assert statuses == [503, 503, 200, 200]
    [rule] = admin.get("/_admin/faults").json()["faults"]["erp"]
    assert rule["remaining"] == 0
    assert rule["fired"] == 2


def test_path_and_method_matching(admin: httpx.Client, erp: httpx.Client) -> None:
    set_faults(admin, "erp", {"path": "/vendors", "method": "post"})
    assert erp.get("/erp/vendors").status_code == 200
    assert erp.post("/erp/vendors", json=vendor()).status_code == 503
    assert erp.post("/erp/vendors/validate", json={}).status_code == 503
    assert erp.post("/erp/approved-suppliers", json={"vendor_id": "V-1"}).status_code == 404


def test_header_prefix_scopes_a_rule_to_one_run(admin: httpx.Client, erp: httpx.Client) -> None:
    set_faults(admin, "erp", {"headers": {"idempotency-key": "vendor-onboarding-APP-1"}})
    mine = {"Idempotency-Key": "vendor-onboarding-APP-1/create-vendor"}
    other = {"Idempotency-Key": "vendor-onboarding-APP-2/create-vendor"}
    assert erp.post("/erp/vendors", json=vendor(), headers=other).status_code == 201
    assert erp.get("/erp/vendors").status_code == 200  # no key at all: not this run's
    assert erp.post("/erp/vendors", json=vendor(), headers=mine).status_code == 503
    [rule] = admin.get("/_admin/faults").json()["faults"]["erp"]
    assert (rule["matched"], rule["headers"]) == (1, {"idempotency-key": "vendor-onboarding-APP-1"})


def test_path_matches_whole_segments(admin: httpx.Client, erp: httpx.Client) -> None:
    set_faults(admin, "erp", {"path": "/vendor"})
    assert erp.get("/erp/vendors").status_code == 200
    set_faults(admin, "erp", {"path": "/vendors/validate"})
    assert erp.get("/erp/vendors").status_code == 200
    assert erp.post("/erp/vendors/validate", json={}).status_code == 503


def test_faults_stay_within_their_system(
    admin: httpx.Client, erp: httpx.Client, portal: httpx.Client
) -> None:
    set_faults(admin, "erp", {"down": True})
    assert portal.get("/portal/accounts").status_code == 200
    assert admin.get("/_admin/ledger").status_code == 200


def test_latency_only_rule_slows_but_succeeds(admin: httpx.Client, erp: httpx.Client) -> None:
    [rule] = set_faults(admin, "erp", {"latency_ms": 300})["rules"]
    assert rule["error_rate"] == 0.0
    started = time.monotonic()
    response = erp.get("/erp/vendors")
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_latency_is_added_to_failures_too(admin: httpx.Client, erp: httpx.Client) -> None:
    set_faults(admin, "erp", {"latency_ms": 200, "status": 502})
    started = time.monotonic()
    assert erp.get("/erp/vendors").status_code == 502
    assert time.monotonic() - started >= 0.2


def test_down_answers_everything_before_auth(
    admin: httpx.Client, erp: httpx.Client, anonymous: httpx.Client
) -> None:
    set_faults(admin, "erp", {"down": True, "retry_after": 30})
    for response in (
        erp.get("/erp/vendors"),
        erp.post("/erp/vendors", json=vendor()),
        anonymous.get("/erp/vendors"),
        anonymous.get("/erp/not-a-route"),
    ):
        assert response.status_code == 503
        assert error_of(response)["code"] == "SYSTEM_DOWN"
        assert response.headers["retry-after"] == "30"


def test_nothing_is_written_when_a_fault_fires(admin: httpx.Client, erp: httpx.Client) -> None:
    set_faults(admin, "erp", {"count": 1})
    headers = {"Idempotency-Key": "vendor-APP-1"}
    assert erp.post("/erp/vendors", json=vendor(), headers=headers).status_code == 503
    assert admin.get("/_admin/ledger").json() == {"records": [], "events": []}
    # The key was not used up by the failed attempt: the retry creates the vendor.
    retry = erp.post("/erp/vendors", json=vendor(), headers=headers)
    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers


def draw_sequence(admin: httpx.Client, erp: httpx.Client, seed: int, calls: int) -> list[int]:
    set_faults(admin, "erp", {"error_rate": 0.3, "seed": seed, "status": 500})
    return [erp.get("/erp/vendors").status_code for _ in range(calls)]


def test_seeded_error_rate_is_roughly_right_and_reproducible(
    admin: httpx.Client, erp: httpx.Client
) -> None:
    first = draw_sequence(admin, erp, seed=1234, calls=100)
    failures = first.count(500)
    assert 15 <= failures <= 45, failures
    assert set(first) == {200, 500}
    assert draw_sequence(admin, erp, seed=1234, calls=100) == first


def test_rules_apply_in_order(admin: httpx.Client, erp: httpx.Client) -> None:
    set_faults(
        admin,
        "erp",
        [
            {"path": "/vendors/validate", "status": 400, "code": "FIRST", "count": 1},
            {"status": 500, "code": "SECOND"},
        ],
    )
    assert error_of(erp.post("/erp/vendors/validate", json={}))["code"] == "FIRST"
    assert error_of(erp.post("/erp/vendors/validate", json={}))["code"] == "SECOND"
    assert error_of(erp.get("/erp/vendors"))["code"] == "SECOND"


def test_clearing_faults(admin: httpx.Client, erp: httpx.Client, portal: httpx.Client) -> None:
    set_faults(admin, "erp", {})
    set_faults(admin, "portal", {})
    assert set(admin.get("/_admin/faults").json()["faults"]) == {"erp", "portal"}
    admin.delete("/_admin/faults/erp").raise_for_status()
    assert erp.get("/erp/vendors").status_code == 200
    assert portal.get("/portal/accounts").status_code == 503
    admin.delete("/_admin/faults").raise_for_status()
    assert portal.get("/portal/accounts").status_code == 200
    set_faults(admin, "portal", {})
    admin.post("/_admin/reset").raise_for_status()
    assert admin.get("/_admin/faults").json() == {"faults": {}}
    set_faults(admin, "portal", {})
    set_faults(admin, "portal", [])
    assert admin.get("/_admin/faults").json() == {"faults": {}}


@pytest.mark.parametrize(
    ("system", "rules", "field"),
    [
        ("nowhere", {}, "system"),
        ("erp", {"error_rate": 1.5}, "rules[0].error_rate"),
        ("erp", {"status": 200}, "rules[0].status"),
        ("erp", [{}, {"method": "FETCH"}], "rules[1].method"),
        ("erp", {"path": "vendors"}, "rules[0].path"),
        ("erp", {"count": 0}, "rules[0].count"),
        ("erp", {"retry_after": "soon"}, "rules[0].retry_after"),
        ("erp", {"retry_after": -1}, "rules[0].retry_after"),
        ("erp", {"latency_ms": -5}, "rules[0].latency_ms"),
        ("erp", {"eror_rate": 0.5}, "rules[0].eror_rate"),
        ("erp", "down", "rules[0]"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(
    admin: httpx.Client, system: str, rules: object, field: str
) -> None:
    response = admin.put(f"/_admin/faults/{system}", json=rules)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["message"]
    assert admin.get("/_admin/faults").json() == {"faults": {}}


def test_injected_faults_leave_no_ledger_events(admin: httpx.Client, erp: httpx.Client) -> None:
    set_faults(admin, "erp", {"count": 3})
    for _ in range(3):
        erp.get("/erp/vendors")
    assert events(admin) == []
