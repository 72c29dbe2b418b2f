"""LeadToCash end to end, driven by the CRM, e-signature and billing webhooks as in production."""

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError

from domain.approvals import Decision
from domain.contract import CUSTOMER_ID, INVOICE_ID_PREFIX, STAGE, lead_to_cash_id
from domain.lead import LeadToCashResult
from starters.approvals import decide
from starters.directory import Approver
from starters.sandbox_actions import move_deal, sign_envelope
from tests.helpers import Ledger, audit_rows, failure_of, for_run, status, wait_for
from tests.invoicing import pay

SAM = Approver(id="sam", name="Sam", email="sam@company.example", roles=["sales-manager"])
SEATS, PRICE, TAX_BP = 5, 120_000, 1900  # 6,000.00 EUR net: below the invoice approval threshold


def lead_form(**overrides: Any) -> dict[str, Any]:
    key = uuid.uuid4().hex[:8]
    form: dict[str, Any] = {
        "lead_id": f"WEB-{key.upper()}",
        "email": f"cto-{key}@initech-{key}.example",
        "name": "Morgan Buyer",
        "company": f"Initech {key}",
        "domain": f"initech-{key}.example",
        "source": "web-form",
        "budget_cents": 5_000_000,
        "authority": True,
        "need": "high",
        "timeline": "now",
        "seats": SEATS,
        "currency": "EUR",
        "requested_discount_bp": 0,
    }
    form.update(overrides)
    return form


async def _start(stack, **overrides: Any) -> tuple[str, dict[str, Any]]:
    """Start through the API as a service would; returns the workflow id and the form."""
    form = lead_form(**overrides)
    token = stack.credentials()["api_clients"]["svc-onboarding"]
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as api:
        answer = await api.post(
            "/v1/leads", json=form, headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 202, answer.text
    return answer.json()["workflow_id"], form


def _handle(client, workflow_id: str) -> WorkflowHandle[Any, LeadToCashResult]:
    return client.get_workflow_handle(workflow_id, result_type=LeadToCashResult)


async def _step(handle, prefix: str) -> str | None:
    """The id after `prefix` in the first `steps_done` line that starts with it."""
    for step in (await status(handle)).steps_done:
        if step.startswith(prefix):
            return step[len(prefix) :].split()[0]
    return None


async def _stage(handle, *stages: str) -> bool:
    return (await status(handle)).stage in stages


async def _deal_of(handle) -> str:
    return await wait_for(lambda: _step(handle, "deal "), what="the deal")  # 'deal DEAL-1 for ...'


async def _envelope_of(handle) -> str:
    await wait_for(lambda: _stage(handle, "contract_sent"), what="the contract")
    return await wait_for(lambda: _step(handle, "envelope "), what="the envelope")


def _records(admin: httpx.Client, system: str, kind: str, **match: Any) -> list[dict[str, Any]]:
    ledger = admin.get("/_admin/ledger", params={"system": system}).raise_for_status().json()
    return [
        r
        for r in ledger["records"]
        if r["kind"] == kind
        and all(r["data"].get(k) == v or r.get(k) == v for k, v in match.items())
    ]


async def test_a_lead_all_the_way_to_won(client, settings, admin, stack):
    workflow_id, form = await _start(stack)
    handle = _handle(client, workflow_id)
    deal_id = await _deal_of(handle)
    move_deal(settings, deal_id, "proposal")
    move_deal(settings, deal_id, "closed_won")
    envelope_id = await _envelope_of(handle)
    sign_envelope(settings, envelope_id)
    await wait_for(lambda: _stage(handle, "awaiting_payment"), what="the invoice")
    invoice_workflow = await wait_for(lambda: _step(handle, "invoice workflow "), what="the child")
    invoice_handle = client.get_workflow_handle(invoice_workflow)
    await wait_for(
        lambda: _stage(invoice_handle, "awaiting_payment"), what="the invoice to be sent"
    )
    number = invoice_workflow.removeprefix(INVOICE_ID_PREFIX)
    total = SEATS * PRICE + SEATS * PRICE * TAX_BP // 10_000
    pay(admin, number, total, payment_id=f"{number}-pay")

    result = await asyncio.wait_for(handle.result(), 60)
    assert result.outcome == "won"
    assert result.deal_id == deal_id and result.envelope_id == envelope_id
    leads = _records(admin, "crm", "lead", email=form["email"])
    assert len(leads) == 1 and result.crm_lead_id == leads[0]["id"]
    assert len(_records(admin, "crm", "deal", external_ref=form["lead_id"])) == 1
    envelopes = _records(admin, "esign", "envelope", external_ref=form["lead_id"])
    assert [e["status"] for e in envelopes] == ["completed"]
    customers = [
        r
        for r in Ledger(admin).records
        if r["kind"] == "customer" and r["id"] == result.billing_customer_id
    ]
    assert len(customers) == 1
    invoices = _records(admin, "billing", "invoice", number=number)
    assert [(i["status"], i["data"]["total_cents"]) for i in invoices] == [("paid", total)]
    assert len(invoices[0]["data"]["payments"]) == 1
    account = _records(admin, "crm", "account")
    assert [a["data"]["type"] for a in account if a["id"] == result.crm_account_id] == ["customer"]
    portal = _records(admin, "portal", "account", external_ref=form["lead_id"])
    assert [p["id"] for p in portal] == [result.portal_account_id]
    assert len(Ledger(admin).emails(form["lead_id"], "customer-welcome")) == 1
    described = await handle.describe()
    assert described.search_attributes.get(STAGE.name) == ["won"]
    assert described.search_attributes.get(CUSTOMER_ID.name) == [result.billing_customer_id]


async def test_not_qualified_is_nurtured_and_gets_no_deal(client, admin, stack):
    workflow_id, form = await _start(
        stack, budget_cents=0, authority=False, need="low", timeline="unknown"
    )
    result = await asyncio.wait_for(_handle(client, workflow_id).result(), 60)
    assert result.outcome == "nurtured" and result.deal_id is None and result.score < 60
    assert len(Ledger(admin).emails(form["lead_id"], "lead-nurture")) == 2
    assert _records(admin, "crm", "deal", external_ref=form["lead_id"]) == []


@pytest.mark.parametrize(
    ("path", "step"), [("/leads$", "capturing"), ("/deals$", "opening_deal")], ids=["lead", "deal"]
)
async def test_a_permanent_failure_before_the_deal_says_why(client, admin, stack, path, step):
    lead_id = lead_form()["lead_id"]
    refused = {"status": 422, "code": "REFUSED_BY_TEST", "path": path, "method": "POST", "count": 1}
    admin.put(
        "/_admin/faults/crm", json=for_run(lead_to_cash_id(lead_id), refused)
    ).raise_for_status()
    workflow_id, form = await _start(stack, lead_id=lead_id)
    handle = _handle(client, workflow_id)

    error = await failure_of(handle)

    assert error.type == "REFUSED_BY_TEST"
    assert form["lead_id"] in error.message and "undone: nothing" in error.message
    final = await status(handle)
    assert (final.stage, final.outcome) == ("compensated", "refused_by_test")
    assert final.problem and final.problem.startswith("permanent failure")
    assert final.compensations == []
    assert (await handle.describe()).search_attributes.get(STAGE.name) == ["compensated"]
    assert _records(admin, "crm", "deal", external_ref=form["lead_id"]) == []
    leads = _records(admin, "crm", "lead", email=form["email"])
    assert len(leads) == (0 if step == "capturing" else 1)


@pytest.mark.parametrize(
    "latency_ms", [0, 3000], ids=["waiting-to-be-retried", "attempt-under-way"]
)
async def test_a_run_cancelled_before_its_deal_ends_cancelled(
    client, admin, stack, settings, latency_ms
):
    """The cancel finds the lead capture failing: between attempts, or in one (slow) attempt."""
    lead_id = lead_form()["lead_id"]
    failing = {"status": 503, "path": "/leads$", "method": "POST", "latency_ms": latency_ms}
    admin.put(
        "/_admin/faults/crm", json=for_run(lead_to_cash_id(lead_id), failing)
    ).raise_for_status()
    workflow_id, form = await _start(stack, lead_id=lead_id)
    handle = _handle(client, workflow_id)
    await wait_for(lambda: _stage(handle, "capturing"), what="the lead capture")
    if not latency_ms:
        await wait_for(lambda: audit_rows(settings, workflow_id), what="a failed attempt")

    await handle.cancel()

    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), 60)
    assert isinstance(failed.value.cause, CancelledError)
    final = await status(handle)
    assert final.outcome == "cancelled" and final.compensations == []
    assert _records(admin, "crm", "lead", email=form["email"]) == []


async def test_a_duplicate_lead_email_reuses_the_lead(client, admin, stack):
    first_id, form = await _start(
        stack, budget_cents=0, authority=False, need="low", timeline="unknown"
    )
    second_id, _ = await _start(
        stack,
        email=form["email"].upper(),
        budget_cents=0,
        authority=False,
        need="low",
        timeline="unknown",
    )
    first = await asyncio.wait_for(_handle(client, first_id).result(), 60)
    second = await asyncio.wait_for(_handle(client, second_id).result(), 60)
    assert first.crm_lead_id == second.crm_lead_id
    leads = _records(admin, "crm", "lead", email=form["email"])
    assert len(leads) == 1 and leads[0]["data"]["submissions"] == 2


async def test_closed_lost_after_the_contract_voids_the_envelope(client, settings, admin, stack):
    workflow_id, form = await _start(stack)
    handle = _handle(client, workflow_id)
    deal_id = await _deal_of(handle)
    move_deal(settings, deal_id, "closed_won")
    await _envelope_of(handle)
    move_deal(settings, deal_id, "closed_lost")
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.outcome == "lost"
    envelopes = _records(admin, "esign", "envelope", external_ref=form["lead_id"])
    assert [e["status"] for e in envelopes] == ["voided"]


async def test_rejected_discount_puts_the_deal_back_with_a_note(client, settings, admin, stack):
    workflow_id, form = await _start(stack, requested_discount_bp=2500)
    handle = _handle(client, workflow_id)
    deal_id = await _deal_of(handle)
    move_deal(settings, deal_id, "negotiation")
    move_deal(settings, deal_id, "closed_won")
    await wait_for(lambda: _stage(handle, "awaiting_approval"), what="the discount approval")
    assert (await decide(client, SAM, workflow_id, Decision.REJECT, "25 % is too much")).accepted
    error = await failure_of(handle)
    assert error.type == "APPROVAL_REJECTED" and "back to negotiation" in error.message
    deal = _records(admin, "crm", "deal", external_ref=form["lead_id"])[0]
    assert deal["status"] == "negotiation"
    assert any("not completed" in n["text"] for n in deal["data"]["notes"])
    assert _records(admin, "esign", "envelope", external_ref=form["lead_id"]) == []


async def test_silence_reminds_the_owner_then_goes_stale(client, admin, stack):
    workflow_id, form = await _start(stack)
    result = await asyncio.wait_for(_handle(client, workflow_id).result(), 60)
    assert result.outcome == "stale"
    reminders = Ledger(admin).emails(form["lead_id"], "deal-reminder")
    assert [m["data"]["to"] for m in reminders] == [result.owner]


async def test_an_unsigned_contract_is_voided_at_the_final_timeout(client, settings, admin, stack):
    workflow_id, form = await _start(stack)
    handle = _handle(client, workflow_id)
    deal_id = await _deal_of(handle)
    move_deal(settings, deal_id, "closed_won")
    await _envelope_of(handle)
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.outcome == "unsigned"
    assert len(Ledger(admin).emails(form["lead_id"], "contract-reminder")) == 1
    envelopes = _records(admin, "esign", "envelope", external_ref=form["lead_id"])
    assert [e["status"] for e in envelopes] == ["voided"]
    assert (
        _records(admin, "crm", "deal", external_ref=form["lead_id"])[0]["status"] == "qualification"
    )


async def test_the_signed_invoice_outlives_a_cancelled_parent(client, settings, admin, stack):
    workflow_id, _ = await _start(stack)
    handle = _handle(client, workflow_id)
    deal_id = await _deal_of(handle)
    move_deal(settings, deal_id, "closed_won")
    sign_envelope(settings, await _envelope_of(handle))
    invoice_workflow = await wait_for(lambda: _step(handle, "invoice workflow "), what="the child")
    child = client.get_workflow_handle(invoice_workflow)
    await wait_for(lambda: _stage(child, "awaiting_payment"), what="the invoice to be sent")
    await handle.cancel()
    await wait_for(lambda: _closed(handle), what="the parent to end")
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert (await child.describe()).status == WorkflowExecutionStatus.RUNNING
    number = invoice_workflow.removeprefix(INVOICE_ID_PREFIX)
    pay(admin, number, SEATS * PRICE + SEATS * PRICE * TAX_BP // 10_000)
    await asyncio.wait_for(child.result(), 60)
    assert (await child.describe()).status == WorkflowExecutionStatus.COMPLETED


async def _closed(handle) -> bool:
    return (await handle.describe()).status != WorkflowExecutionStatus.RUNNING


async def test_enrichment_rate_limit_slows_the_run_down(client, settings, admin, stack):
    admin.put(
        "/_admin/enrichment/rate-limit", json={"per_second": 0.5, "burst": 1}
    ).raise_for_status()
    try:
        first_id, _ = await _start(
            stack, budget_cents=0, authority=False, need="low", timeline="unknown"
        )
        second_id, _ = await _start(
            stack, budget_cents=0, authority=False, need="low", timeline="unknown"
        )
        for workflow_id in (first_id, second_id):
            result = await asyncio.wait_for(_handle(client, workflow_id).result(), 60)
            assert result.outcome == "nurtured"
    finally:
        admin.put(
            "/_admin/enrichment/rate-limit", json={"per_second": 5, "burst": 5}
        ).raise_for_status()
    rows = [
        r
        for wf in (first_id, second_id)
        for r in audit_rows(settings, wf)
        if r.system == "enrichment"
    ]
    limited = [r for r in rows if r.status == 429]
    assert limited, "the rate limit never answered 429"
    for row in limited:
        retry = next(r for r in rows if r.workflow_id == row.workflow_id and r.id > row.id)
        assert (retry.at - row.at).total_seconds() >= 1.0, "Retry-After not honoured"
        assert retry.status in (200, 429)
    assert all(
        any(r.status == 200 for r in rows if r.workflow_id == wf) for wf in (first_id, second_id)
    )


pytestmark = pytest.mark.timeout(300)


async def test_the_lead_commands(client, cli_env, admin, tmp_path):
    import json

    from tests.test_cli import backoffice

    form = lead_form()
    file = tmp_path / "lead.json"
    file.write_text(json.dumps(form))
    # The stack's deal and signature timers are seconds; this run waits on several CLI calls
    # (a Python start each, slow on a busy machine), so its policy gets minutes.
    patient = cli_env | {
        "BACKOFFICE_DEAL_OWNER_REMINDER_AFTER": "PT2M",
        "BACKOFFICE_DEAL_STALE_AFTER": "PT5M",
        "BACKOFFICE_SIGNATURE_REMINDER_AFTER": "PT2M",
        "BACKOFFICE_SIGNATURE_TIMEOUT": "PT5M",
        "BACKOFFICE_APPROVAL_REMIND_AFTER": "PT2M",
        "BACKOFFICE_APPROVAL_ESCALATE_AFTER": "PT2M",
        "BACKOFFICE_APPROVAL_EXPIRE_AFTER": "PT5M",
    }
    started = backoffice("start", "lead", str(file), env=patient)
    assert started.returncode == 0 and f"lead-to-cash-{form['lead_id']} started" in started.stdout
    handle = _handle(client, lead_to_cash_id(form["lead_id"]))
    deal_id = await _deal_of(handle)
    bad = backoffice("deal", deal_id, "--stage", "won", env=cli_env)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    moved = backoffice("deal", deal_id, "--stage", "closed_won", env=cli_env)
    assert moved.returncode == 0 and "closed_won" in moved.stdout
    envelope_id = await _envelope_of(handle)
    unknown = backoffice("sign", "ENV-999999", env=cli_env)
    assert unknown.returncode == 1 and "NOT_FOUND" in unknown.stderr
    signed = backoffice("sign", envelope_id, env=cli_env)
    assert signed.returncode == 0, signed.stderr
    await wait_for(lambda: _stage(handle, "awaiting_payment"), what="the signature to arrive")
    assert (
        _records(admin, "esign", "envelope", external_ref=form["lead_id"])[0]["status"]
        == "completed"
    )
    form["seats"] = 0
    file.write_text(json.dumps(form))
    invalid = backoffice("start", "lead", str(file), env=cli_env)
    assert invalid.returncode == 2 and "seats: Input should be greater than 0" in invalid.stderr
