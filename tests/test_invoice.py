"""InvoiceGeneration end to end: billing and CRM records, webhooks, approvals, dunning, voiding."""

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError

from domain.approvals import Decision
from domain.contract import (
    AMOUNT_CENTS,
    CUSTOMER_ID,
    INVOICE_GENERATION,
    INVOICE_ID_PREFIX,
    PAYMENT_RECEIVED_SIGNAL,
    STAGE,
    invoice_workflow_id,
)
from domain.invoice import InvoiceGenerationInput, InvoicePolicy, InvoiceRequest, InvoiceResult
from domain.systems import WORKFLOW_TASK_QUEUE
from starters.approvals import decide
from starters.directory import Approver
from starters.invoices import void_invoice
from starters.start import start_invoice
from tests.helpers import Ledger, audit_rows, failure_of, for_run, status, wait_for, webhook_row
from tests.invoicing import Crm, billing_invoices, invoice_request, paid_cents, pay

FIONA = Approver(id="fiona", name="Fiona", email="fiona@company.example", roles=["finance"])
TOTAL = 475_940  # 12 x 250.00 + 999.50, 19 % tax per line, half-even: 570.00 + 189.90(5) -> 189.90


async def _start(
    client: Client, settings, crm: Crm, ids: tuple[str, str] | None = None, **overrides: Any
) -> WorkflowHandle[Any, InvoiceResult]:
    account_id, deal_id = ids or crm.account_and_deal()
    request = InvoiceRequest.model_validate(invoice_request(account_id, deal_id, **overrides))
    outcome = await start_invoice(client, settings, request)
    _DEALS[outcome.workflow_id] = deal_id
    return client.get_workflow_handle(outcome.workflow_id, result_type=InvoiceResult)


_DEALS: dict[str, str] = {}


async def _stage(handle, *stages: str) -> bool:
    return (await status(handle)).stage in stages


def _number(handle) -> str:
    return handle.id.removeprefix(INVOICE_ID_PREFIX)


async def test_happy_path_paid_through_the_billing_webhook(client, settings, admin, crm, stack):
    handle = await _start(client, settings, crm)
    number = _number(handle)
    await wait_for(lambda: _stage(handle, "awaiting_payment"), what="the invoice to be sent")
    invoices = billing_invoices(admin, number)
    assert len(invoices) == 1 and invoices[0]["status"] == "open"
    assert invoices[0]["data"]["total_cents"] == TOTAL
    emails = Ledger(admin).emails(number, "invoice")
    assert len(emails) == 1
    assert "4,759.40 EUR" in emails[0]["data"]["subject"]
    # The deal is updated after the stage says awaiting_payment.
    await wait_for(
        lambda: crm.deal(_DEALS[handle.id]).get("invoice_status") == "open", what="the deal"
    )

    pay(admin, number, TOTAL, payment_id=f"pay-{number}")
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.status == "paid" and result.amount_paid_cents == TOTAL
    assert [p.payment_id for p in result.payments] == [f"{result.invoice_id}@{TOTAL}"]
    assert billing_invoices(admin, number)[0]["status"] == "paid"
    deal = crm.deal(_DEALS[handle.id])
    assert deal["invoice_id"] == result.invoice_id and deal["invoice_status"] == "paid"
    customers = [
        r
        for r in Ledger(admin).records
        if r["kind"] == "customer" and r["id"] == result.customer_id
    ]
    assert len(customers) == 1
    described = await handle.describe()
    assert described.search_attributes.get(STAGE.name) == ["paid"]
    assert described.search_attributes.get(AMOUNT_CENTS.name) == [TOTAL]
    assert described.search_attributes.get(CUSTOMER_ID.name) == [result.customer_id]

    # The provider delivers the same event again: acknowledged, nothing changes.
    events = admin.get("/_admin/webhooks/events", params={"system": "billing"}).json()
    event = next(
        e
        for e in _events(events)
        if e["type"] == "invoice.paid"
        and e["data"]["object"]["metadata"]["invoice_number"] == number
    )
    for _ in range(2):
        admin.post(f"/_admin/webhooks/events/{event['id']}/redeliver").raise_for_status()
    deliveries = admin.get("/_admin/webhooks/deliveries", params={"event_id": event["id"]}).json()[
        "deliveries"
    ]
    assert [d["status"] for d in deliveries] == [200, 200, 200]
    row = webhook_row(settings, "billing", event["id"])
    assert (row.status, row.deliveries, row.workflow_id) == ("delivered", 3, handle.id)
    assert [paid_cents(i) for i in billing_invoices(admin, number)] == [TOTAL]  # paid once


def _events(listing: Any) -> list[dict[str, Any]]:
    return list(listing["events"] if isinstance(listing, dict) else listing)


async def test_same_invoice_number_twice_is_one_workflow_and_one_invoice(
    client, settings, admin, crm
):
    account_id, deal_id = crm.account_and_deal()
    request = InvoiceRequest.model_validate(invoice_request(account_id, deal_id))
    first = await start_invoice(client, settings, request)
    second = await start_invoice(client, settings, request)
    assert first.workflow_id == second.workflow_id and second.already_existed
    handle = client.get_workflow_handle(first.workflow_id)
    await wait_for(lambda: _stage(handle, "awaiting_payment"), what="the invoice to be sent")
    assert len(billing_invoices(admin, request.invoice_number)) == 1


async def test_finance_approval_at_the_threshold_and_rejection_voids_the_draft(
    client, settings, admin, crm
):
    big = [
        {
            "description": "Enterprise licence",
            "quantity": 1,
            "unit_price_cents": 1_000_000,
            "tax_rate_bp": 0,
        }
    ]
    handle = await _start(client, settings, crm, lines=big)
    await wait_for(lambda: _stage(handle, "awaiting_approval"), what="finance approval")
    pending = (await status(handle)).pending_approval
    assert pending is not None and pending.request.amount_cents == 1_000_000
    assert pending.allowed_roles == ["finance"]
    outcome = await decide(client, FIONA, handle.id, Decision.REJECT, "wrong price list")
    assert outcome.accepted
    error = await failure_of(handle)
    assert error.type == "APPROVAL_REJECTED"
    invoices = billing_invoices(admin, _number(handle))
    assert [i["status"] for i in invoices] == ["deleted"]  # Stripe deletes a draft
    assert Ledger(admin).emails(_number(handle), "invoice") == []

    below = [
        {"description": "Licence", "quantity": 1, "unit_price_cents": 999_999, "tax_rate_bp": 0}
    ]
    small = await _start(client, settings, crm, lines=below)
    await wait_for(
        lambda: _stage(small, "awaiting_payment"), what="no approval below the threshold"
    )
    assert (await status(small)).approvals == []


async def _start_with_dunning(
    client, crm, offsets: list[float]
) -> WorkflowHandle[Any, InvoiceResult]:
    account_id, deal_id = crm.account_and_deal()
    request = InvoiceRequest.model_validate(
        invoice_request(account_id, deal_id, payment_terms="immediate")
    )
    policy = InvoicePolicy(dunning_offsets=[timedelta(seconds=s) for s in offsets])
    return await client.start_workflow(
        INVOICE_GENERATION,
        InvoiceGenerationInput(request=request, policy=policy),
        id=invoice_workflow_id(request.invoice_number),
        task_queue=WORKFLOW_TASK_QUEUE,
        result_type=InvoiceResult,
    )


async def test_dunning_reminds_in_order_then_escalates_and_a_late_payment_completes(
    client, admin, crm
):
    handle = await _start_with_dunning(client, crm, [1.0, 3.0])
    number = _number(handle)
    await wait_for(lambda: _stage(handle, "overdue"), timeout=60, what="the invoice to go overdue")
    ledger = Ledger(admin)
    reminders = ledger.emails(number, "invoice-reminder")
    assert [m["data"]["tags"]["notification"] for m in reminders] == ["reminder-1", "reminder-2"]
    assert reminders[0]["created_at"] <= reminders[1]["created_at"]
    # `overdue` is the stage while collections is being told: wait for that email.
    overdue = await wait_for(
        lambda: Ledger(admin).emails(number, "invoice-overdue"), what="the collections email"
    )
    assert len(overdue) == 1  # carla holds collections
    assert (await handle.describe()).search_attributes.get(STAGE.name) == ["overdue"]

    pay(admin, number, 100_000, payment_id=f"{number}-part")
    await wait_for(lambda: _paid(handle, 100_000), what="the partial payment")
    # Billing's event for that payment again, as an operator's signal: counted once.
    invoice_id = billing_invoices(admin, number)[0]["id"]
    again = {"payment_id": f"{invoice_id}@100000", "amount_cents": 100_000}
    await handle.signal(PAYMENT_RECEIVED_SIGNAL, {**again, "paid_to_date_cents": 100_000})
    pay(admin, number, TOTAL - 100_000, payment_id=f"{number}-rest")
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.status == "paid" and result.amount_paid_cents == TOTAL
    assert result.reminders_sent == 2 and len(result.payments) == 2


async def _paid(handle, cents: int) -> bool:
    return (
        sum(
            int(s.split(": ")[1])
            for s in (await status(handle)).steps_done
            if s.startswith("payment ")
        )
        >= cents
    )


async def test_void_before_payment_and_refused_after(client, settings, admin, crm):
    handle = await _start(client, settings, crm)
    number = _number(handle)
    await wait_for(lambda: _stage(handle, "awaiting_payment"), what="the invoice to be sent")
    sam = Approver(id="sam", name="Sam", email="sam@company.example", roles=["sales-manager"])
    refused = await void_invoice(client, sam, number, "duplicate")
    assert not refused.accepted and refused.code == "WRONG_ROLE"
    voided = await void_invoice(client, FIONA, number, "customer cancelled the order")
    assert voided.accepted, voided
    result = await asyncio.wait_for(handle.result(), 30)
    assert result.status == "void"
    assert [i["status"] for i in billing_invoices(admin, number)] == ["void"]
    assert crm.deal(_DEALS[handle.id])["invoice_status"] == "void"

    paid = await _start(client, settings, crm)
    await wait_for(lambda: _stage(paid, "awaiting_payment"), what="the invoice to be sent")
    pay(admin, _number(paid), 1_000, payment_id=f"{_number(paid)}-p1")
    await wait_for(lambda: _stage(paid, "partially_paid"), what="the partial payment")
    late = await void_invoice(client, FIONA, _number(paid), "too late")
    assert not late.accepted and late.code == "INVOICE_PAID"


async def test_crm_token_expiry_503s_and_a_billing_429_still_complete_once(
    client, settings, admin, stack
):
    crm = Crm(stack)
    warm = await _start(client, settings, crm)  # the worker now holds a CRM token
    await wait_for(lambda: _stage(warm, "awaiting_payment"), what="the first invoice")
    ids = crm.account_and_deal()
    number = invoice_request(*ids)["invoice_number"]
    admin.post("/_admin/crm/expire-tokens").raise_for_status()  # the worker's token too
    admin.put(
        "/_admin/faults/crm", json={"status": 503, "count": 2, "path": f"/deals/{ids[1]}"}
    ).raise_for_status()
    limited = {
        "status": 429,
        "retry_after": 2,
        "path": "/v1/invoices$",
        "method": "POST",
        "count": 1,
    }
    admin.put(
        "/_admin/faults/billing", json=for_run(invoice_workflow_id(number), limited)
    ).raise_for_status()
    handle = await _start(client, settings, crm, ids, invoice_number=number)
    number = _number(handle)
    await wait_for(
        lambda: _stage(handle, "awaiting_payment"), timeout=60, what="the invoice to be sent"
    )
    assert len(billing_invoices(admin, number)) == 1
    rows = audit_rows(settings, handle.id)
    crm_rows = [(r.path, r.status, r.error_code) for r in rows if r.system == "crm"]
    expired = crm_rows.index(next(r for r in crm_rows if r[2] == "TOKEN_EXPIRED"))
    assert crm_rows[expired + 1][:2] == ("/oauth/token", 200), crm_rows
    creates = [
        r for r in rows if r.system == "billing" and r.method == "POST" and r.path == "/v1/invoices"
    ]
    assert [r.status for r in creates] == [429, 200]  # Stripe answers a create with 200
    gap = (creates[1].at - creates[0].at).total_seconds()
    assert gap >= 2.0, f"Retry-After not honoured: {gap:.2f} s"
    assert not (await status(handle)).attention


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"lines": []}, "lines: List should have at least 1 item"),
        (
            {
                "lines": [
                    {"description": "x", "quantity": 0, "unit_price_cents": 1, "tax_rate_bp": 0}
                ]
            },
            "lines.0.quantity: Input should be greater than 0",
        ),
        ({"currency": "EUX"}, "currency: Value error, unknown currency"),
        (
            {
                "lines": [
                    {
                        "description": "x",
                        "quantity": 1_000_000,
                        "unit_price_cents": 10**15,
                        "tax_rate_bp": 0,
                    }
                ]
            },
            "the invoice total exceeds",
        ),
        (
            {"payment_terms": "net45"},
            "payment_terms: Input should be 'immediate', 'net30' or 'net60'",
        ),
        ({"invoice_number": "inv 1"}, "invoice_number: String should match pattern"),
    ],
    ids=["empty-lines", "zero-quantity", "currency", "overflow", "terms", "number"],
)
async def test_invalid_invoice_request_names_the_field_and_creates_nothing(
    client, cli_env, admin, tmp_path, change, named
):
    import json

    from tests.test_cli import backoffice

    request = invoice_request("ACC-000001", "DEAL-000001") | change
    file = tmp_path / "invoice.json"
    file.write_text(json.dumps(request))
    out = backoffice("start", "invoice", str(file), env=cli_env)
    assert out.returncode == 2, out.stdout
    assert named in out.stderr
    number = str(request["invoice_number"])
    assert billing_invoices(admin, number) == []
    listed = [
        w async for w in client.list_workflows(f'WorkflowId = "{invoice_workflow_id(number)}"')
    ]
    assert listed == []


async def test_worker_killed_after_the_billing_create_still_one_invoice(
    client, settings, admin, crm, stack
):
    # Billing answers the create after 3 s; the worker dies in between, after billing wrote it.
    ids = crm.account_and_deal()
    number = invoice_request(*ids)["invoice_number"]
    slow = {"path": "/v1/invoices$", "method": "POST", "latency_ms": 3000}
    admin.put(
        "/_admin/faults/billing", json=for_run(invoice_workflow_id(number), slow)
    ).raise_for_status()
    handle = await _start(client, settings, crm, ids, invoice_number=number)
    number = _number(handle)
    await wait_for(lambda: _stage(handle, "creating_draft"), what="the create call")
    await asyncio.sleep(1.0)
    stack.kill_worker()
    await wait_for(lambda: billing_invoices(admin, number), timeout=10, what="billing's write")
    admin.delete("/_admin/faults").raise_for_status()
    stack.start_worker()
    await wait_for(
        lambda: _stage(handle, "awaiting_payment"), timeout=90, what="the invoice to be sent"
    )
    assert len(billing_invoices(admin, number)) == 1
    creates = [
        r
        for r in audit_rows(settings, handle.id)
        if r.path == "/v1/invoices" and r.method == "POST"
    ]
    assert [r.attempt for r in creates] == [2], "the retry after the crash shows in the audit"
    assert creates[0].status == 200


async def test_the_invoice_commands(client, cli_env, admin, crm, tmp_path):
    import json

    from tests.test_cli import backoffice

    account_id, deal_id = crm.account_and_deal()
    request = invoice_request(account_id, deal_id)
    file = tmp_path / "invoice.json"
    file.write_text(json.dumps(request))
    number = request["invoice_number"]
    started = backoffice("start", "invoice", str(file), env=cli_env)
    assert started.returncode == 0 and f"invoice-{number} started" in started.stdout
    handle = client.get_workflow_handle(invoice_workflow_id(number), result_type=InvoiceResult)
    await wait_for(lambda: _stage(handle, "awaiting_payment"), what="the invoice to be sent")

    bad = backoffice("pay", number, "12.345", env=cli_env)
    assert bad.returncode == 2 and "at most two decimals" in bad.stderr
    paid = backoffice("pay", number, "1000.00", "--payment-id", f"{number}-cli", env=cli_env)
    assert paid.returncode == 0, paid.stderr
    await wait_for(lambda: _stage(handle, "partially_paid"), what="the webhook to arrive")
    refused = backoffice("void", number, "--as", "fiona", "--reason", "late", env=cli_env)
    assert refused.returncode == 1 and "INVOICE_PAID" in refused.stderr
    rest = backoffice("pay", number, f"{(TOTAL - 100_000) / 100:.2f}", env=cli_env)
    assert rest.returncode == 0, rest.stderr
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.status == "paid" and result.amount_paid_cents == TOTAL
    overpaid = backoffice("pay", number, "1.00", env=cli_env)
    assert overpaid.returncode == 1 and "the system refused (INVALID_STATE" in overpaid.stderr


async def test_invoice_start_through_the_api(client, stack, crm):
    from tests.api.checks import assert_not_started, error_of

    token = stack.credentials()["api_clients"]["svc-onboarding"]
    headers = {"Authorization": f"Bearer {token}"}
    account_id, deal_id = crm.account_and_deal()
    request = invoice_request(account_id, deal_id)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as api:
        first = await api.post("/v1/invoices", json=request, headers=headers)
        assert first.status_code == 202, first.text
        again = await api.post("/v1/invoices", json=request, headers=headers)
        assert (
            again.status_code == 200 and again.json()["workflow_id"] == first.json()["workflow_id"]
        )
        bad = request | {"invoice_number": "INV-BAD-CURRENCY", "currency": "XXX"}
        refused = await api.post("/v1/invoices", json=bad, headers=headers)
        error = error_of(refused, 422, "VALIDATION_ERROR")
        assert any(f["field"] == "currency" for f in error["fields"])
        await assert_not_started(client, "invoice-INV-BAD-CURRENCY")
    handle = client.get_workflow_handle(first.json()["workflow_id"])
    await wait_for(lambda: _stage(handle, "awaiting_payment"), what="the invoice to be sent")


async def test_failure_before_sending_voids_the_draft(client, settings, admin, crm):
    big = [
        {"description": "Licence", "quantity": 1, "unit_price_cents": 2_000_000, "tax_rate_bp": 0}
    ]
    handle = await _start(client, settings, crm, lines=big)
    number = _number(handle)
    await wait_for(lambda: _stage(handle, "awaiting_approval"), what="finance approval")
    invoice_id = billing_invoices(admin, number)[0]["id"]
    admin.put(
        "/_admin/faults/billing",
        json={
            "status": 422,
            "code": "REFUSED_BY_TEST",
            "path": f"/v1/invoices/{invoice_id}/finalize$",
        },
    ).raise_for_status()
    assert (await decide(client, FIONA, handle.id, Decision.APPROVE)).accepted
    error = await failure_of(handle)
    assert error.type == "refused_by_test" and f"deleted draft {invoice_id}" in error.message
    assert [i["status"] for i in billing_invoices(admin, number)] == ["deleted"]
    assert Ledger(admin).emails(number, "invoice") == []


async def test_a_crm_failure_after_sending_is_surfaced_not_undone(client, settings, admin, crm):
    ids = crm.account_and_deal()
    admin.put(
        "/_admin/faults/crm",
        json={
            "status": 422,
            "code": "DEAL_LOCKED",
            "path": f"/deals/{ids[1]}$",
            "method": "PATCH",
            "count": 1,
        },
    ).raise_for_status()
    handle = await _start(client, settings, crm, ids)
    number = _number(handle)
    current = await wait_for(lambda: _attention(handle), what="the problem to surface")
    assert "DEAL_LOCKED" in current.attention and current.stage == "awaiting_payment"
    assert (await handle.describe()).search_attributes.get(STAGE.name) == ["attention_needed"]
    assert [i["status"] for i in billing_invoices(admin, number)] == ["open"]
    pay(admin, number, TOTAL, payment_id=f"{number}-all")
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.status == "paid"
    assert crm.deal(ids[1])["invoice_status"] == "paid"
    assert (await handle.describe()).search_attributes.get(STAGE.name) == ["paid"]


async def _attention(handle):
    current = await status(handle)
    return current if current.attention else None


async def test_a_cancel_after_sending_ends_cancelled_and_undoes_nothing(
    client, settings, admin, crm
):
    ids = crm.account_and_deal()
    # The CRM deal update after sending fails slowly, so the cancel finds it under way.
    admin.put(
        "/_admin/faults/crm",
        json={"status": 503, "path": f"/deals/{ids[1]}$", "method": "PATCH", "latency_ms": 2000},
    ).raise_for_status()
    handle = await _start(client, settings, crm, ids)
    number = _number(handle)
    await wait_for(lambda: Ledger(admin).emails(number, "invoice"), what="the invoice email")

    await _cancel_and_expect_nothing_undone(handle, admin, number)


async def test_a_cancel_while_waiting_for_payment_ends_cancelled_with_its_outcome(
    client, settings, admin, crm
):
    ids = crm.account_and_deal()
    handle = await _start(client, settings, crm, ids)
    number = _number(handle)
    # Sent, and recorded on the deal: the run is on its payment timer.
    await wait_for(
        lambda: crm.deal(ids[1]).get("invoice_status") == "open", what="the deal's invoice"
    )
    await _cancel_and_expect_nothing_undone(handle, admin, number)


async def _cancel_and_expect_nothing_undone(handle, admin, number: str) -> None:
    """After sending, a cancel ends the run cancelled, undoes nothing, leaves the invoice open."""
    await handle.cancel()

    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), 60)
    assert isinstance(failed.value.cause, CancelledError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    final = await status(handle)
    assert final.outcome == "cancelled" and final.compensations == []
    assert [i["status"] for i in billing_invoices(admin, number)] == ["open"]
