"""The faults the reliability suite leans on: the ambiguous write (committed, then an error or a
dropped connection), a malformed 200 body, and an answer slower than the caller waits for."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.sandbox.conftest import error_of
from tests.sandbox.factories import vendor


def set_faults(admin: httpx.Client, system: str, rules: object) -> dict[str, Any]:
    response = admin.put(f"/_admin/faults/{system}", json=rules)
    assert response.status_code == 200, response.text
    return dict(response.json())


def vendors(admin: httpx.Client) -> list[dict[str, Any]]:
    ledger = admin.get("/_admin/ledger", params={"system": "erp"}).raise_for_status().json()
    return [r for r in ledger["records"] if r["kind"] == "vendor"]


def test_commit_then_error_writes_then_answers_the_error(
    admin: httpx.Client, erp: httpx.Client
) -> None:
    set_faults(
        admin,
        "erp",
        {"path": "/vendors$", "method": "POST", "after_commit": "error", "status": 500},
    )
    headers = {"Idempotency-Key": "vendor-APP-1"}
    first = erp.post("/erp/vendors", json=vendor(), headers=headers)
    assert first.status_code == 500
    assert error_of(first)["code"] == "INJECTED_FAULT"
    [created] = vendors(admin)
    admin.delete("/_admin/faults").raise_for_status()
    # The caller cannot know the write happened; its retry with the same key finds it.
    retry = erp.post("/erp/vendors", json=vendor(), headers=headers)
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["id"] == created["id"]
    assert len(vendors(admin)) == 1


def test_commit_then_drop_closes_the_connection_mid_answer(
    admin: httpx.Client, erp: httpx.Client
) -> None:
    set_faults(admin, "erp", {"path": "/vendors$", "method": "POST", "after_commit": "drop"})
    headers = {"Idempotency-Key": "vendor-APP-2"}
    with pytest.raises(httpx.RemoteProtocolError):
        erp.post("/erp/vendors", json=vendor("APP-2"), headers=headers)
    [created] = vendors(admin)
    assert created["external_ref"] == "APP-2"
    [rule] = admin.get("/_admin/faults").json()["faults"]["erp"]
    assert rule["after_commit"] == "drop" and rule["fired"] == 1
    admin.delete("/_admin/faults").raise_for_status()
    retry = erp.post("/erp/vendors", json=vendor("APP-2"), headers=headers)
    assert retry.status_code == 201 and retry.json()["id"] == created["id"]
    # The server keeps serving after a dropped connection.
    assert erp.get("/erp/vendors").status_code == 200


def test_commit_then_fail_honours_the_error_rate_and_count(
    admin: httpx.Client, erp: httpx.Client
) -> None:
    set_faults(
        admin, "erp", {"path": "/vendors$", "method": "POST", "after_commit": "error", "count": 1}
    )
    first = erp.post("/erp/vendors", json=vendor("APP-3"), headers={"Idempotency-Key": "k3"})
    second = erp.post(
        "/erp/vendors",
        json=vendor("APP-4", tax_id="DE987654321"),
        headers={"Idempotency-Key": "k4"},
    )
    assert (first.status_code, second.status_code) == (503, 201)
    assert sorted(v["external_ref"] for v in vendors(admin)) == ["APP-3", "APP-4"]


def test_malformed_body_is_a_200_that_does_not_parse_and_writes_nothing(
    admin: httpx.Client, erp: httpx.Client
) -> None:
    set_faults(admin, "erp", {"path": "/vendors", "malformed": True, "count": 2})
    listed = erp.get("/erp/vendors")
    assert listed.status_code == 200
    assert listed.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        listed.json()
    created = erp.post("/erp/vendors", json=vendor("APP-5"), headers={"Idempotency-Key": "k5"})
    assert created.status_code == 200
    assert vendors(admin) == []
    # Nothing was written, so the key is still unused: the next try creates the vendor.
    again = erp.post("/erp/vendors", json=vendor("APP-5"), headers={"Idempotency-Key": "k5"})
    assert again.status_code == 201
    assert "idempotent-replayed" not in again.headers


def test_an_answer_slower_than_the_caller_still_writes(admin: httpx.Client, sandbox: Any) -> None:
    set_faults(admin, "erp", {"path": "/vendors$", "method": "POST", "latency_ms": 1500})
    auth = ("erp-service", "erp-password")
    with (
        httpx.Client(base_url=sandbox.base_url, auth=auth, timeout=0.5) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        impatient.post("/erp/vendors", json=vendor("APP-6"), headers={"Idempotency-Key": "k6"})
    deadline = time.monotonic() + 10
    while not vendors(admin) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [v["external_ref"] for v in vendors(admin)] == ["APP-6"]


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"after_commit": "explode"}, "rules[0].after_commit"),
        ({"malformed": "sometimes"}, "rules[0].malformed"),
    ],
)
def test_bad_ambiguous_rules_are_refused(admin: httpx.Client, rules: object, field: str) -> None:
    response = admin.put("/_admin/faults/erp", json=rules)
    assert response.status_code == 422
    assert field in error_of(response)["message"]
