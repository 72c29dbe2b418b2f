"""Metrics: the session stack's worker and API serve the Temporal SDK's metrics and the business
ones on their Prometheus endpoints, with the values a scripted run explains.

Other tests share the stack, so every check is a difference between two scrapes, on series that
only this test moves (its own error code, the decisions it makes, a quiet moment for the rest).
"""

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowHandle

from domain import metrics
from domain.contract import vendor_onboarding_id
from domain.invoice import InvoiceRequest
from domain.status import WorkflowStatus
from starters.api.metrics import approver_roles, pending_query
from starters.start import start_invoice
from starters.webhooks.signature import header_for, sign
from tests.helpers import (
    audit_rows,
    failure_of,
    first_email_refused,
    for_run,
    new_application_id,
    start,
    status,
    wait_for,
    webhook_row,
)
from tests.invoicing import Crm, invoice_request
from tests.observability.prometheus import Scrape

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def endpoints(stack) -> tuple[str, str]:
    """The worker's and the API's /metrics URLs, as `backoffice dev status` shows them."""
    where = stack.addresses
    assert where.worker_metrics and where.api_metrics
    return where.worker_metrics, where.api_metrics


@pytest.fixture
def api(stack):
    with httpx.Client(base_url=stack.api_url, timeout=30, trust_env=False) as http:
        yield http


async def _settle(read: Callable[[], float], expected: float, what: str) -> float:
    """Wait until `read()` reaches `expected`, then give it a moment to overshoot."""
    await wait_for(lambda: read() >= expected, timeout=30, what=what)
    await asyncio.sleep(1)
    return read()


async def _no_running(client: Client, workflow_type: str) -> None:
    """Runs left by earlier tests (approvals expiring, compensating) end within seconds."""
    query = f'WorkflowType = "{workflow_type}" AND ExecutionStatus = "Running"'
    await wait_for(
        lambda: _count_is_zero(client, query), timeout=90, what=f"no running {workflow_type}"
    )


async def _count_is_zero(client: Client, query: str) -> bool:
    return (await client.count_workflows(query)).count == 0


async def _waiting_contractor(client, settings) -> WorkflowHandle[Any, Any]:
    handle = await start(client, settings, vendor_type="contractor", payment_terms="net15")
    await wait_for(lambda: _pending(handle), timeout=30, what="the risk-review approval")
    return handle


async def _pending(handle) -> bool:
    return (await status(handle)).pending_approval is not None


def _decide(api: httpx.Client, stack, handle, decision: str) -> None:
    password = stack.credentials()["approvers"]["pat"]
    answer = api.post(
        f"/v1/approvals/{handle.id}/risk-review",
        json={"decision": decision, "comment": "metrics test"},
        auth=httpx.BasicAuth("pat", password),
    )
    assert answer.status_code == 200, answer.text


async def test_both_endpoints_serve_the_sdk_metrics(client, settings, endpoints):
    worker, api = endpoints
    handle = await start(client, settings)
    await asyncio.wait_for(handle.result(), 60)
    worker_names = await wait_for(
        lambda: (names := Scrape(worker).names) >= {"temporal_workflow_completed"} and names,
        what="a completed workflow on the worker's endpoint",
    )
    assert {"temporal_request", "temporal_activity_execution_latency_bucket"} <= worker_names
    assert "temporal_request" in Scrape(api).names
    services = {s.labels.get("service_name") for s in Scrape(worker).series("temporal_request")}
    assert services == {"backoffice-worker"}
    services = {s.labels.get("service_name") for s in Scrape(api).series("temporal_request")}
    assert services == {"backoffice-api"}


async def test_approval_latency_counts_each_decision_by_role_and_outcome(
    client, settings, stack, api, endpoints
):
    worker, _ = endpoints
    approved, rejected = [await _waiting_contractor(client, settings) for _ in range(2)]
    before = Scrape(worker)

    _decide(api, stack, approved, "approve")
    _decide(api, stack, rejected, "reject")
    await asyncio.wait_for(approved.result(), 60)
    await failure_of(rejected)

    def count(outcome: str) -> float:
        name = metrics.APPROVAL_LATENCY + "_count"
        return Scrape(worker).value(name, role="procurement", outcome=outcome) - before.value(
            name, role="procurement", outcome=outcome
        )

    assert await _settle(lambda: count("approved"), 1, "the approval's latency") == 1
    assert count("rejected") == 1
    # The seconds observed are the waits each run records, from request to decision.
    name = metrics.APPROVAL_LATENCY + "_sum"
    seconds = Scrape(worker).value(name, role="procurement") - before.value(
        name, role="procurement"
    )
    waited = [(await status(h)).approvals[0] for h in (approved, rejected)]
    assert all(a.decided_at is not None for a in waited)
    recorded = sum((a.decided_at - a.opened_at).total_seconds() for a in waited if a.decided_at)
    assert recorded > 0 and seconds == pytest.approx(recorded, abs=0.01)


async def test_compensations_are_counted_by_step_and_outcome(
    client, settings, admin, mailbox, endpoints
):
    worker, _ = endpoints
    await _no_running(client, "VendorOnboarding")
    before = Scrape(worker)
    # The welcome email is refused (the run compensates); deleting the portal account keeps
    # failing (that compensation fails, the others still run).
    admin.put(
        "/_admin/faults/portal", json={"status": 500, "path": "/accounts", "method": "DELETE"}
    ).raise_for_status()
    handle = await first_email_refused(mailbox, settings, start(client, settings))

    async def waiting_for_review() -> WorkflowStatus | None:
        now = await status(handle)
        return now if now.pending_approval is not None else None

    final = await wait_for(waiting_for_review, what="the failed compensation's review item")

    def delta(compensation: str, outcome: str) -> float:
        labels = {
            "workflow_type": "VendorOnboarding",
            "compensation": compensation,
            "outcome": outcome,
        }
        return Scrape(worker).value(metrics.COMPENSATIONS, **labels) - before.value(
            metrics.COMPENSATIONS, **labels
        )

    assert await _settle(lambda: delta("cancellation email", "ok"), 1, "the compensations") == 1
    assert delta("deactivate vendor", "ok") == 1
    assert delta("delete portal account", "failed") == 1
    total = Scrape(worker).value(metrics.COMPENSATIONS) - before.value(metrics.COMPENSATIONS)
    # What the run reports: the same three, one of them failed.
    failed = [c for c in final.compensations if c.startswith("FAILED: ")]
    assert failed == ["FAILED: delete portal account (INJECTED_FAULT)"]
    assert total == len(final.compensations) == 3
    await handle.terminate("test done: the review item is not decided here")


async def test_external_api_errors_are_counted_by_system_and_code(
    client, settings, admin, endpoints
):
    worker, _ = endpoints
    code = "METRICS_TEST_UNAVAILABLE"
    before = Scrape(worker).value(metrics.EXTERNAL_API_ERRORS, system="portal", code=code)
    key = new_application_id()
    unavailable = {"status": 503, "code": code, "path": "/accounts$", "method": "POST", "count": 2}
    admin.put(
        "/_admin/faults/portal", json=for_run(vendor_onboarding_id(key), unavailable)
    ).raise_for_status()
    handle = await start(client, settings, application_id=key)
    await asyncio.wait_for(handle.result(), 90)

    failing = [row for row in audit_rows(settings, handle.id) if row.error_code == code]
    assert [(row.system, row.status) for row in failing] == [("portal", 503), ("portal", 503)]

    def delta() -> float:
        now = Scrape(worker).value(metrics.EXTERNAL_API_ERRORS, system="portal", code=code)
        return now - before

    assert await _settle(delta, len(failing), "the failed attempts") == len(failing)
    series = [
        s
        for s in Scrape(worker).series(metrics.EXTERNAL_API_ERRORS)
        if s.labels.get("code") == code
    ]
    assert {s.labels["activity_type"] for s in series} == {"portal.create_account"}


def _event(event_type: str, data: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": event_type,
            "created": int(time.time()),
            "system": "billing",
            "data": data,
        }
    ).encode()


def _invoice(number: str, paid: int) -> dict[str, Any]:
    """`data` of a Stripe invoice event."""
    invoice = {"id": f"in_{number}", "amount_paid": paid, "metadata": {"invoice_number": number}}
    return {"object": invoice}


def _post(api: httpx.Client, body: bytes, secret: str) -> httpx.Response:
    return api.post(
        "/webhooks/billing",
        content=body,
        headers={
            "Content-Type": "application/json",
            header_for("billing"): sign(body, secret, int(time.time())),
        },
    )


async def test_webhook_outcomes_are_counted(client, settings, stack, api, endpoints):
    _, api_metrics = endpoints
    secret = stack.vault_root().secrets.kv.v2.read_secret_version(
        path="backoffice/webhooks/billing", mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"]["secrets"][0]
    request = InvoiceRequest.model_validate(invoice_request(*Crm(stack).account_and_deal()))
    outcome = await start_invoice(client, settings, request)
    invoice = client.get_workflow_handle(outcome.workflow_id)
    await wait_for(lambda: _stage_is(invoice, "awaiting_payment"), what="the invoice to be sent")
    before = Scrape(api_metrics)

    paid = _event("invoice.paid", _invoice(request.invoice_number, request.totals().total_cents))
    nobody = _event("invoice.paid", _invoice(f"INV-NONE-{uuid.uuid4().hex[:8]}", 1))
    unheard = _event("invoice.created", _invoice(request.invoice_number, 0))
    answers = [
        _post(api, paid, secret),
        _post(api, paid, secret),
        _post(api, nobody, secret),
        _post(api, unheard, secret),
        _post(api, _event("invoice.paid", {}), "not-the-secret"),
        _post(api, b'{"type": "invoice.paid"}', secret),  # signed, but no event id
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 401, 400]
    assert [a.json().get("status") for a in answers[:4]] == [
        "delivered",
        "duplicate",
        "dead_letter",
        "ignored",
    ]
    assert webhook_row(settings, "billing", json.loads(paid)["id"]).deliveries == 2

    def delta(outcome: str) -> float:
        name = metrics.WEBHOOK_EVENTS
        return Scrape(api_metrics).value(name, system="billing", outcome=outcome) - before.value(
            name, system="billing", outcome=outcome
        )

    expected = {
        "delivered": 1,
        "duplicate": 1,
        "dead_letter": 1,
        "ignored": 1,
        "bad_signature": 1,
        "invalid_event": 1,
    }
    assert {outcome: delta(outcome) for outcome in expected} == expected
    await asyncio.wait_for(invoice.result(), 60)


async def _stage_is(handle, stage: str) -> bool:
    return (await status(handle)).stage == stage


async def test_pending_approvals_gauge_follows_visibility(client, settings, stack, api, endpoints):
    _, api_metrics = endpoints
    waiting = [await _waiting_contractor(client, settings) for _ in range(2)]

    async def agrees() -> bool:
        """The gauge equals the visibility count of that role, counted before and after."""
        counted = (await client.count_workflows(pending_query("procurement"))).count
        gauge = Scrape(api_metrics).value(metrics.APPROVALS_PENDING, role="procurement")
        again = (await client.count_workflows(pending_query("procurement"))).count
        return counted == gauge == again and counted >= len(waiting)

    await wait_for(agrees, timeout=30, what="the gauge to match the visibility count")
    served = {s.labels["role"] for s in Scrape(api_metrics).series(metrics.APPROVALS_PENDING)}
    assert served == set(approver_roles(settings))
    for handle in waiting:
        _decide(api, stack, handle, "reject")
        await failure_of(handle)
