"""``Idempotency-Key``: a retry replays the first answer; a reused key with a new body is 409."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.sandbox.conftest import (
    ERP_PASSWORD,
    ERP_USER,
    SandboxProcess,
    actions,
    client,
    error_of,
)
from tests.sandbox.factories import portal_account, vendor


def test_a_retry_replays_the_original_answer_and_creates_nothing(
    erp: httpx.Client, admin: httpx.Client
) -> None:
    headers = {"Idempotency-Key": "vendor-APP-1"}
    first = erp.post("/erp/vendors", json=vendor(), headers=headers)
    retry = erp.post("/erp/vendors", json=vendor(), headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(erp.get("/erp/vendors").json()["vendors"]) == 1
    assert actions(admin, "erp") == ["created", "idempotent_replay"]
    replay = admin.get("/_admin/ledger").json()["events"][-1]
    assert replay["record_id"] == first.json()["id"]
    assert replay["detail"]["idempotency_key"] == "vendor-APP-1"


def test_key_order_and_whitespace_do_not_make_another_request(erp: httpx.Client) -> None:
    headers = {"Idempotency-Key": "vendor-APP-1", "Content-Type": "application/json"}
    body = vendor()
    first = erp.post("/erp/vendors", content=json.dumps(body), headers=headers)
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)
    retry = erp.post("/erp/vendors", content=reordered, headers=headers)
    assert retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]


def test_the_same_key_with_another_body_is_409(erp: httpx.Client, admin: httpx.Client) -> None:
    headers = {"Idempotency-Key": "vendor-APP-1"}
    assert erp.post("/erp/vendors", json=vendor(), headers=headers).status_code == 201
    reused = erp.post("/erp/vendors", json=vendor("APP-2", tax_id="X1"), headers=headers)
    assert reused.status_code == 409
    assert error_of(reused)["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(erp.get("/erp/vendors").json()["vendors"]) == 1
    assert actions(admin, "erp") == ["created", "rejected"]


def test_keys_are_scoped_per_system(erp: httpx.Client, portal: httpx.Client) -> None:
    headers = {"Idempotency-Key": "shared-key"}
    assert erp.post("/erp/vendors", json=vendor(), headers=headers).status_code == 201
    account = portal.post("/portal/accounts", json=portal_account(), headers=headers)
    assert account.status_code == 201
    assert account.json()["id"] == "PA-000001"


def test_a_refused_create_does_not_use_up_the_key(erp: httpx.Client) -> None:
    headers = {"Idempotency-Key": "vendor-APP-1"}
    refused = erp.post("/erp/vendors", json=vendor(payment_terms="immediate"), headers=headers)
    assert error_of(refused)["code"] == "INVALID_PAYMENT_TERMS"
    assert erp.post("/erp/vendors", json=vendor(), headers=headers).status_code == 201


def test_without_a_key_a_repeated_erp_create_hits_the_business_rules(erp: httpx.Client) -> None:
    assert erp.post("/erp/vendors", json=vendor()).status_code == 201
    again = erp.post("/erp/vendors", json=vendor())
    assert again.status_code == 422
    assert error_of(again)["code"] == "DUPLICATE_EXTERNAL_REF"


def test_portal_replays_instead_of_duplicate_account(portal: httpx.Client) -> None:
    headers = {"Idempotency-Key": "account-APP-1"}
    first = portal.post("/portal/accounts", json=portal_account(), headers=headers)
    retry = portal.post("/portal/accounts", json=portal_account(), headers=headers)
    assert retry.status_code == 201
    assert retry.json() == first.json()


def test_an_overlong_key_is_a_validation_error(erp: httpx.Client) -> None:
    response = erp.post("/erp/vendors", json=vendor(), headers={"Idempotency-Key": "k" * 300})
    assert response.status_code == 422
    assert "Idempotency-Key" in error_of(response)["message"]


def test_concurrent_retries_create_one_record(sandbox: SandboxProcess, admin: httpx.Client) -> None:
    def attempt(_: int) -> httpx.Response:
        with client(sandbox.base_url, auth=(ERP_USER, ERP_PASSWORD)) as erp:
            return erp.post("/erp/vendors", json=vendor(), headers={"Idempotency-Key": "race"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(attempt, range(8)))
    assert {response.status_code for response in responses} == {201}
    assert {response.json()["id"] for response in responses} == {"V-000001"}
    assert sorted(actions(admin, "erp")) == ["created"] + ["idempotent_replay"] * 7
