"""Starting a vendor onboarding over HTTP: it runs to the end, once per application id, and a
bad request (any kind) starts nothing."""

import asyncio
import json
from typing import Any

import pytest

from domain.contract import invoice_workflow_id, subscription_workflow_id, vendor_onboarding_id
from domain.status import WorkflowStatus
from tests.api.checks import assert_not_started, error_of
from tests.helpers import Ledger, vendor_application
from tests.invoicing import invoice_request

START = "/v1/vendor-onboardings"


async def test_start_runs_to_completion_and_the_same_start_again_is_the_same_workflow(
    api, service, client, admin
):
    app = vendor_application()
    started = await api.post(START, json=app, headers=service("svc-onboarding"))

    assert started.status_code == 202, started.text
    body = started.json()
    workflow_id = vendor_onboarding_id(app["application_id"])
    assert set(body) == {"workflow_id", "run_id", "web_ui_url", "rerun_of"}
    assert body["rerun_of"] is None  # a first run replaces nothing
    assert body["workflow_id"] == workflow_id and body["run_id"]
    assert body["web_ui_url"].endswith(f"/namespaces/default/workflows/{workflow_id}")
    assert started.headers["location"] == f"/v1/workflows/{workflow_id}"

    again = await api.post(START, json=app, headers=service("svc-onboarding"))
    assert again.status_code == 200, again.text
    assert again.json() == body

    await asyncio.wait_for(client.get_workflow_handle(workflow_id).result(), 60)
    read = await api.get(f"/v1/workflows/{workflow_id}", headers=service("svc-reader"))
    assert read.status_code == 200, read.text
    status = WorkflowStatus.model_validate(read.json())
    assert status.stage == "completed" and status.business_key == app["application_id"]
    assert len(Ledger(admin).of(app["application_id"], "vendor")) == 1
    runs = [r async for r in client.list_workflows(f'WorkflowId = "{workflow_id}"')]
    assert len(runs) == 1


def _without(field: str) -> dict[str, Any]:
    app = vendor_application()
    del app[field]
    return app


BAD_BODIES = {
    "missing field": (_without("tax_id"), "tax_id", "Field required"),
    "wrong type": (vendor_application(legal_name=12345), "legal_name", "valid string"),
    "bad enum": (vendor_application(vendor_type="robot"), "vendor_type", "'supplier'"),
    "bad nested value": (
        vendor_application(bank_account={"iban": "DE00123456789012345678", "bic": "DEUTDEFF"}),
        "bank_account.iban",
        "IBAN check digits do not match",
    ),
    "unknown field": (vendor_application(approver="pat"), "approver", "unknown field"),
}


@pytest.mark.parametrize("kind", list(BAD_BODIES))
async def test_invalid_body_is_422_naming_the_field_never_its_value(api, service, client, kind):
    app, field, problem = BAD_BODIES[kind]
    answer = await api.post(START, json=app, headers=service("svc-onboarding"))

    error = error_of(answer, 422, "VALIDATION_ERROR")
    named = {f["field"]: f["problem"] for f in error["fields"]}
    assert problem in named[field], named
    assert field in error["message"]
    for value in ("DE00123456789012345678", "robot", "12345"):
        assert value not in answer.text
    await assert_not_started(client, vendor_onboarding_id(app["application_id"]))


async def test_every_bad_field_is_named_at_once(api, service, client):
    app = vendor_application(country="Germany", contact_email="nobody")
    del app["requested_by"]
    answer = await api.post(START, json=app, headers=service("svc-onboarding"))
    error = error_of(answer, 422, "VALIDATION_ERROR")
    assert {f["field"] for f in error["fields"]} == {"country", "contact_email", "requested_by"}
    assert "Germany" not in answer.text and "nobody" not in answer.text
    await assert_not_started(client, vendor_onboarding_id(app["application_id"]))


async def test_oversize_body_is_413_before_it_is_parsed(api, service, client, settings):
    app = vendor_application(legal_name="x" * settings.api_max_body_bytes)
    answer = await api.post(START, json=app, headers=service("svc-onboarding"))
    error = error_of(answer, 413, "PAYLOAD_TOO_LARGE")
    assert str(settings.api_max_body_bytes) in error["message"]
    await assert_not_started(client, vendor_onboarding_id(app["application_id"]))


async def test_chunked_oversize_body_without_content_length_is_413(api, service, client, settings):
    app = vendor_application(legal_name="x" * settings.api_max_body_bytes)
    raw = json.dumps(app).encode()

    async def chunks():
        for at in range(0, len(raw), 8192):
            yield raw[at : at + 8192]

    answer = await api.post(
        START,
        content=chunks(),
        headers={**service("svc-onboarding"), "Content-Type": "application/json"},
    )
    assert answer.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in answer.request.headers
    error_of(answer, 413, "PAYLOAD_TOO_LARGE")
    await assert_not_started(client, vendor_onboarding_id(app["application_id"]))


async def test_body_that_is_not_json_is_400(api, service, client):
    app = vendor_application()
    broken = json.dumps(app)[:-1]  # the closing brace is missing
    answer = await api.post(
        START,
        content=broken,
        headers={**service("svc-onboarding"), "Content-Type": "application/json"},
    )
    error = error_of(answer, 400, "INVALID_JSON")
    assert "not valid JSON" in error["message"]
    await assert_not_started(client, vendor_onboarding_id(app["application_id"]))


async def test_wrong_content_type_is_415(api, service, client):
    app = vendor_application()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = service("svc-onboarding")
        if content_type:
            headers["Content-Type"] = content_type
        answer = await api.post(START, content=json.dumps(app), headers=headers)
        error = error_of(answer, 415, "UNSUPPORTED_MEDIA_TYPE")
        assert "application/json" in error["message"]
    await assert_not_started(client, vendor_onboarding_id(app["application_id"]))


async def test_unknown_routes_and_methods_answer_in_the_error_shape(api, service):
    error_of(await api.get("/v1/nothing-here"), 404, "NOT_FOUND")
    wrong_method = await api.delete(START, headers=service("svc-onboarding"))
    error_of(wrong_method, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in wrong_method.headers["allow"]
    unknown = await api.get("/v1/workflows/vendor-onboarding-NOPE-0", headers=service("svc-reader"))
    error_of(unknown, 404, "WORKFLOW_NOT_FOUND")
    bad_id = await api.get("/v1/workflows/%20spaces%20", headers=service("svc-reader"))
    assert error_of(bad_id, 422, "VALIDATION_ERROR")["fields"][0]["field"] == "workflow_id"


async def test_a_subscription_start_the_rules_refuse_starts_nothing(api, service, client, crm):
    account_id, deal_id = crm.account_and_deal()
    body = {
        "subscription_id": "SUB-API-OLD-ANCHOR",
        "crm_account_id": account_id,
        "crm_deal_id": deal_id,
        "plan": {
            "seats": 3,
            "price_per_seat_cents": 5_000,
            "tax_rate_bp": 1900,
            "currency": "EUR",
            "interval": "annual",
        },
        "anchor": "2020-01-01",
    }
    answer = await api.post("/v1/subscriptions", json=body, headers=service("svc-onboarding"))
    error = error_of(answer, 422, "VALIDATION_ERROR")
    assert [f["field"] for f in error["fields"]] == ["anchor"]
    await assert_not_started(client, subscription_workflow_id(body["subscription_id"]))

    for field, value in [("seats", 0), ("currency", "XYZ"), ("interval", "weekly")]:
        bad = {**body, "anchor": "2027-01-01", "plan": {**body["plan"], field: value}}
        answer = await api.post("/v1/subscriptions", json=bad, headers=service("svc-onboarding"))
        error = error_of(answer, 422, "VALIDATION_ERROR")
        assert [f["field"] for f in error["fields"]] == [f"plan.{field}"]
    await assert_not_started(client, subscription_workflow_id(body["subscription_id"]))


async def test_an_invoice_may_not_take_a_subscription_periods_number(api, service, client, crm):
    request = invoice_request(*crm.account_and_deal(), invoice_number="SUB-TAKEN-P1")
    answer = await api.post("/v1/invoices", json=request, headers=service("svc-onboarding"))
    error = error_of(answer, 422, "VALIDATION_ERROR")
    assert [f["field"] for f in error["fields"]] == ["invoice_number"]
    await assert_not_started(client, invoice_workflow_id("SUB-TAKEN-P1"))
