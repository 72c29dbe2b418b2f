"""Subscriptions on the real stack, with periods of seconds: each period billed by an invoice run
of its own and paid in billing, a seat change from the next period, cancel at the period's end,
and the changes the rules refuse."""

import asyncio
import csv
import io
import json
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from devstack.paths import project_root
from devstack.temporal_cli import find_temporal_cli
from domain.contract import (
    AMOUNT_CENTS,
    BUSINESS_KEY,
    CANCEL_UPDATE,
    CHANGE_PLAN_UPDATE,
    INVOICE_GENERATION,
    PAUSE_UPDATE,
    RESUME_UPDATE,
    STAGE,
    SUBSCRIPTION,
    SUBSCRIPTION_ID_PREFIX,
    SUBSCRIPTION_STATUS,
    invoice_workflow_id,
    subscription_workflow_id,
)
from domain.invoice import InvoiceTerms
from domain.lead import LeadForm, LeadToCashResult, lead_subscription_id
from domain.reconciliation import ReconciliationResult
from domain.records import PortalAccount
from domain.subscription import (
    ChangeResult,
    LifecycleChange,
    PlanChange,
    SubscriptionInput,
    SubscriptionPlan,
    SubscriptionRequest,
    SubscriptionResult,
    SubscriptionView,
    period_invoice_number,
)
from domain.systems import WORKFLOW_TASK_QUEUE, System
from runtime.settings import Settings
from starters.reconciliation import start_reconciliation
from starters.sandbox_actions import move_deal, sign_envelope
from starters.start import start_lead_to_cash
from starters.subscriptions import change_subscription
from tests.helpers import (
    Ledger,
    current_details,
    listed,
    stage_in,
    status,
    system_client,
    wait_for,
)
from tests.invoicing import Crm, billing_invoices, paid_cents, pay
from tests.resets import reset_before
from tests.test_cli import backoffice
from tests.test_lead_to_cash import lead_form

# The saved queries of docs/processes.md (and the README), as written there.
PAST_DUE_QUERY = (
    f"WorkflowType = '{SUBSCRIPTION}' AND ExecutionStatus = 'Running' AND "
    f"{SUBSCRIPTION_STATUS.name} IN ('past_due', 'suspended')"
)
UNPAID_PERIODS_QUERY = (
    f"WorkflowType = '{INVOICE_GENERATION}' AND {BUSINESS_KEY.name} STARTS_WITH 'SUB-' AND "
    f"{AMOUNT_CENTS.name} > 50000 AND {STAGE.name} IN ('awaiting_payment', 'overdue')"
)
PERIOD = timedelta(seconds=15)  # long enough for a period's invoice, its payment and a change
PLAN = SubscriptionPlan(
    seats=12,
    price_per_seat_cents=5_000,
    discount_bp=1000,
    tax_rate_bp=1900,
    currency="EUR",
    interval="monthly",
)


async def start_subscription(
    client: Client,
    settings: Settings,
    crm: Crm,
    portal_account_ref: str | None = None,
    **policy: Any,
) -> WorkflowHandle[Any, SubscriptionResult]:
    account_id, deal_id = crm.account_and_deal()
    request = SubscriptionRequest(
        subscription_id=f"SUB-{uuid.uuid4().hex[:10].upper()}",
        crm_account_id=account_id,
        crm_deal_id=deal_id,
        plan=PLAN,
        anchor=datetime.now(UTC).date(),
        payment_terms=InvoiceTerms.IMMEDIATE,
        portal_account_ref=portal_account_ref,
    )
    base = settings.subscription_policy()
    invoice = base.invoice.model_copy(update={"dunning_offsets": [timedelta(minutes=10)]})
    changes = {"period_length": PERIOD, "invoice": invoice, **policy}
    return await client.start_workflow(
        SUBSCRIPTION,
        SubscriptionInput(request=request, policy=base.model_copy(update=changes)),
        id=subscription_workflow_id(request.subscription_id),
        task_queue=WORKFLOW_TASK_QUEUE,
        result_type=SubscriptionResult,
    )


async def view(handle: WorkflowHandle[Any, Any]) -> SubscriptionView:
    found = (await status(handle)).subscription
    assert found is not None
    return found


def subscription_id(handle: WorkflowHandle[Any, Any]) -> str:
    return handle.id.removeprefix(SUBSCRIPTION_ID_PREFIX)


async def pay_period(
    client: Client,
    admin: Any,
    handle: WorkflowHandle[Any, Any],
    period: int,
    stage: str = "awaiting_payment",
) -> dict[str, Any]:
    """Wait for the period's invoice to be sent (or at `stage`), pay it in full in billing;
    its record."""
    record = await period_invoice(client, admin, handle, period, stage)
    number = period_invoice_number(subscription_id(handle), period)
    pay(admin, number, int(record["data"]["total_cents"]), payment_id=f"{number}-paid")
    return record


async def period_invoice(
    client: Client,
    admin: Any,
    handle: WorkflowHandle[Any, Any],
    period: int,
    stage: str = "awaiting_payment",
) -> dict[str, Any]:
    """The period's invoice in billing, once its run has sent it (or is at `stage`)."""
    number = period_invoice_number(subscription_id(handle), period)
    invoice = client.get_workflow_handle(invoice_workflow_id(number))

    async def sent() -> bool:
        try:
            return await stage_in(invoice, stage)
        except RPCError as exc:  # not started yet
            assert exc.status == RPCStatusCode.NOT_FOUND, exc
            return False

    await wait_for(sent, timeout=90, what=f"invoice {number} sent")
    (record,) = billing_invoices(admin, number)
    return dict(record)


def test_the_saved_queries_tested_here_are_those_the_docs_show():
    processes = (project_root() / "docs" / "processes.md").read_text()
    assert f"`{PAST_DUE_QUERY}`" in processes and f"`{UNPAID_PERIODS_QUERY}`" in processes
    assert f"`{PAST_DUE_QUERY}`" in (project_root() / "README.md").read_text()


async def test_three_periods_billed_and_paid_a_seat_change_from_the_next_period_and_cancel(
    client, settings, admin, crm
):
    handle = await start_subscription(client, settings, crm)
    sid = subscription_id(handle)
    first = await pay_period(client, admin, handle, 0)
    assert first["data"]["total_cents"] == PLAN.period_total_cents()

    change = PlanChange(by="sam", seats=20)
    changed = await handle.execute_update(CHANGE_PLAN_UPDATE, change, result_type=ChangeResult)
    assert changed.effective == "from period 2"
    assert changed.subscription.plan.startswith("12 seats")
    assert changed.subscription.next_plan is not None
    assert changed.subscription.next_plan.startswith("20 seats")

    second = await pay_period(client, admin, handle, 1)
    twenty = PLAN.model_copy(update={"seats": 20})
    assert second["data"]["total_cents"] == twenty.period_total_cents()
    await pay_period(client, admin, handle, 2)
    cancel = LifecycleChange(by="fiona", reason="moving to annual billing")
    ending = await handle.execute_update(CANCEL_UPDATE, cancel, result_type=ChangeResult)
    assert ending.subscription.cancel_at_period_end and ending.effective.startswith("at ")

    result = await asyncio.wait_for(handle.result(), 120)
    assert result.status == "cancelled" and result.periods_billed == 3
    for period in range(3):  # each period once in billing, paid in full
        (invoice,) = billing_invoices(admin, period_invoice_number(sid, period))
        assert invoice["status"] == "paid"
        assert paid_cents(invoice) == invoice["data"]["total_cents"]
    assert billing_invoices(admin, period_invoice_number(sid, 3)) == []
    described = await handle.describe()
    assert described.search_attributes.get(SUBSCRIPTION_STATUS.name) == ["cancelled"]
    runs = [e async for e in client.list_workflows(f"WorkflowId = '{handle.id}'")]
    assert len(runs) == 4  # continued as new after each of the three periods


async def test_an_old_period_paid_while_the_next_runs_is_matched_and_reconciled(
    client, settings, admin, crm
):
    # Periods long enough to pay the first one late before a third falls due.
    handle = await start_subscription(client, settings, crm, period_length=timedelta(seconds=40))
    sid = subscription_id(handle)
    total = PLAN.period_total_cents()
    await period_invoice(client, admin, handle, 0)  # sent, and not paid
    await period_invoice(client, admin, handle, 1)  # the next period billed meanwhile
    shown = await view(handle)
    assert shown.periods_paid == 0 and shown.open_cents == 2 * total

    await pay_period(client, admin, handle, 0)  # the older one, paid late
    await wait_for(lambda: _paid(handle, 1), what="the first period paid")
    shown = await view(handle)
    assert shown.open_invoices == [invoice_workflow_id(period_invoice_number(sid, 1))]
    assert shown.open_cents == total and shown.status == "active"
    first = client.get_workflow_handle(invoice_workflow_id(period_invoice_number(sid, 0)))
    assert (await first.describe()).status == WorkflowExecutionStatus.COMPLETED
    await pay_period(client, admin, handle, 1)
    await wait_for(lambda: _paid_periods(handle, 2), what="the second period paid")
    now = LifecycleChange(by="fiona", at_period_end=False, reason="test over")
    await handle.execute_update(CANCEL_UPDATE, now, result_type=ChangeResult)
    ended = await asyncio.wait_for(handle.result(), 60)
    assert ended.periods_paid == 2 and ended.open_invoices == []

    # The day's reconciliation covers period invoices like any other: exported, paid, and
    # none of them left for a person.
    day = datetime.now(UTC).date()
    reconciling = await start_reconciliation(client, settings, day)
    run = client.get_workflow_handle(reconciling.workflow_id, result_type=ReconciliationResult)
    result = await asyncio.wait_for(run.result(), 240)
    numbers = {period_invoice_number(sid, n) for n in (0, 1)}
    unresolved = {u.invoice_number for u in result.unresolved}
    assert not numbers & unresolved, result.unresolved
    path = settings.resolved_export_dir / f"invoices-{day}.csv"
    rows = {r["number"]: r for r in csv.DictReader(io.StringIO(path.read_text()))}
    assert {n: rows[n]["status"] for n in numbers} == {n: "paid" for n in numbers}


async def test_a_period_that_starts_while_paused_is_not_billed(client, settings, admin, crm):
    # Periods long enough to pay the first and pause before the second starts, under load.
    handle = await start_subscription(client, settings, crm, period_length=timedelta(seconds=25))
    sid = subscription_id(handle)
    await pay_period(client, admin, handle, 0)
    pause = LifecycleChange(by="fiona", reason="customer on leave")
    paused = await handle.execute_update(PAUSE_UPDATE, pause, result_type=ChangeResult)
    assert paused.subscription.status == "paused" and paused.effective == "from period 2"
    with pytest.raises(WorkflowUpdateFailedError) as twice:
        await handle.execute_update(PAUSE_UPDATE, pause, result_type=ChangeResult)
    assert getattr(twice.value.cause, "type", None) == "ALREADY_PAUSED"
    described = await handle.describe()
    assert described.search_attributes.get(SUBSCRIPTION_STATUS.name) == ["paused"]

    # The second period starts while paused: skipped, nothing in billing.
    await wait_for(lambda: _next_period_is(handle, 3), timeout=60, what="period 2 skipped")
    assert billing_invoices(admin, period_invoice_number(sid, 1)) == []
    resumed = await handle.execute_update(
        RESUME_UPDATE, LifecycleChange(by="fiona"), result_type=ChangeResult
    )
    assert resumed.subscription.status == "active"
    await pay_period(client, admin, handle, 2)  # the third period billed again, and paid
    await wait_for(lambda: _paid_periods(handle, 2), what="the third period paid")
    now = LifecycleChange(by="fiona", at_period_end=False)
    await handle.execute_update(CANCEL_UPDATE, now, result_type=ChangeResult)
    result = await asyncio.wait_for(handle.result(), 60)
    assert (result.periods_billed, result.periods_paid) == (2, 2)
    assert billing_invoices(admin, period_invoice_number(sid, 1)) == []


async def _next_period_is(handle: WorkflowHandle[Any, Any], number: int) -> bool:
    return (await view(handle)).next_period == number


async def test_changes_the_rules_refuse_change_nothing(client, settings, admin, crm):
    handle = await start_subscription(client, settings, crm, period_length=timedelta(hours=1))
    await pay_period(client, admin, handle, 0)
    before = await view(handle)
    refusals = [
        (CHANGE_PLAN_UPDATE, PlanChange(by="fiona", seats=3), "WRONG_ROLE"),  # not sales
        (CANCEL_UPDATE, LifecycleChange(by="sam"), "WRONG_ROLE"),  # not finance
        (PAUSE_UPDATE, LifecycleChange(by="rory"), "WRONG_ROLE"),  # no role at all
        (RESUME_UPDATE, LifecycleChange(by="fiona"), "NOT_PAUSED"),
    ]
    for name, change, code in refusals:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(name, change, result_type=ChangeResult)
        assert getattr(refused.value.cause, "type", None) == code, refused.value.cause
    assert await view(handle) == before

    at_end = LifecycleChange(by="fiona")
    await handle.execute_update(CANCEL_UPDATE, at_end, result_type=ChangeResult)
    with pytest.raises(WorkflowUpdateFailedError) as twice:
        await handle.execute_update(CANCEL_UPDATE, at_end, result_type=ChangeResult)
    assert getattr(twice.value.cause, "type", None) == "ALREADY_CANCELLING"
    await handle.execute_update(
        CANCEL_UPDATE, LifecycleChange(by="fiona", at_period_end=False), result_type=ChangeResult
    )
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.status == "cancelled" and result.periods_billed == 1
    # A change to a cancelled (ended) subscription: refused, named, and nothing runs again.
    late = await change_subscription(
        client, subscription_id(handle), CHANGE_PLAN_UPDATE, PlanChange(by="sam", seats=3)
    )
    assert not late.accepted and late.code == "SUBSCRIPTION_NOT_RUNNING", late
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED


async def test_a_recurring_lead_ends_won_with_an_active_subscription(
    client, settings, admin, stack
):
    form = lead_form(billing="monthly")
    outcome = await start_lead_to_cash(client, settings, LeadForm.model_validate(form))
    lead = client.get_workflow_handle(outcome.workflow_id, result_type=LeadToCashResult)
    deal_id = await wait_for(lambda: step_id(lead, "deal "), what="the deal")
    move_deal(settings, deal_id, "proposal")
    move_deal(settings, deal_id, "closed_won")
    envelope_id = await wait_for(lambda: step_id(lead, "envelope "), what="the contract")
    sign_envelope(settings, envelope_id)
    child = await wait_for(lambda: step_id(lead, "subscription workflow "), what="the subscription")
    subscription = client.get_workflow_handle(child, result_type=SubscriptionResult)
    sid = subscription_id(subscription)
    assert sid == lead_subscription_id(form["lead_id"])
    await pay_period(client, admin, subscription, 0)

    result = await asyncio.wait_for(lead.result(), 90)
    assert result.outcome == "won" and result.subscription_workflow_id == child
    assert result.invoice_workflow_id == invoice_workflow_id(period_invoice_number(sid, 0))
    standing = await view(subscription)
    assert standing.status == "active" and standing.periods_paid == 1
    assert standing.next_billing_at is not None  # a month on: the stack bills calendar months
    portal = [
        r
        for r in Ledger(admin).records
        if r["kind"] == "account" and r.get("external_ref") == form["lead_id"]
    ]
    assert [p["status"] for p in portal] == ["active"]
    await subscription.execute_update(
        CANCEL_UPDATE, LifecycleChange(by="fiona", at_period_end=False), result_type=ChangeResult
    )
    assert (await asyncio.wait_for(subscription.result(), 60)).status == "cancelled"


async def step_id(handle: WorkflowHandle[Any, Any], prefix: str) -> str | None:
    for step in (await status(handle)).steps_done:
        if step.startswith(prefix):
            return step[len(prefix) :].split()[0]
    return None


async def test_the_subscription_commands(client, cli_env, crm, tmp_path):
    account_id, deal_id = crm.account_and_deal()
    sid = f"SUB-{uuid.uuid4().hex[:10].upper()}"
    body = {
        "subscription_id": sid,
        "crm_account_id": account_id,
        "crm_deal_id": deal_id,
        "plan": PLAN.model_dump(mode="json"),
        "anchor": (datetime.now(UTC) - timedelta(days=400)).date().isoformat(),
    }
    file = tmp_path / "subscription.json"
    file.write_text(json.dumps(body))
    old = backoffice("start", "subscription", str(file), env=cli_env)
    assert old.returncode == 2 and "anchor: more than 31 days in the past" in old.stderr
    assert [r async for r in client.list_workflows(f"WorkflowId = '{handle_id(sid)}'")] == []

    body["anchor"] = datetime.now(UTC).date().isoformat()
    file.write_text(json.dumps(body))
    started = backoffice("start", "subscription", str(file), env=cli_env)
    assert started.returncode == 0 and f"{handle_id(sid)} started" in started.stdout
    again = backoffice("start", "subscription", str(file), env=cli_env)
    assert again.returncode == 0 and f"{handle_id(sid)} already exists" in again.stdout

    handle = client.get_workflow_handle(handle_id(sid))
    await wait_for(lambda: _billed(handle), what="the first period billed")
    shown = backoffice("subscriptions", "show", sid, env=cli_env)
    assert shown.returncode == 0 and sid in shown.stdout and "active" in shown.stdout
    listed = backoffice("subscriptions", "--json", env=cli_env)
    assert sid in [v["subscription_id"] for v in json.loads(listed.stdout)]

    refused = backoffice("subscriptions", "plan", sid, "--seats", "3", "--as", "fiona", env=cli_env)
    assert refused.returncode == 1 and "WRONG_ROLE" in refused.stdout
    bad = backoffice("subscriptions", "plan", sid, "--seats", "0", "--as", "sam", env=cli_env)
    assert bad.returncode == 2 and "seats" in bad.stderr
    changed = backoffice("subscriptions", "plan", sid, "--seats", "3", "--as", "sam", env=cli_env)
    assert changed.returncode == 0 and "from period 2" in changed.stdout
    assert (await view(handle)).next_plan is not None

    cancelled = backoffice("subscriptions", "cancel", sid, "--now", "--as", "fiona", env=cli_env)
    assert cancelled.returncode == 0 and "cancel: now" in cancelled.stdout
    result = await asyncio.wait_for(handle.result(), 60)
    assert result["status"] == "cancelled"


def handle_id(sid: str) -> str:
    return subscription_workflow_id(sid)


async def _billed(handle: WorkflowHandle[Any, Any]) -> bool:
    return (await view(handle)).periods_billed == 1


async def test_an_unpaid_period_goes_past_due_then_suspended_until_paid(
    client, settings, admin, crm, stack
):
    account = await portal_account(stack, settings)
    handle = await start_unpaid(client, settings, crm, account.external_ref)
    await wait_for(lambda: standing(handle, "past_due"), timeout=60, what="past due")
    assert _portal_status(admin, account.id) == "active"  # not yet: the grace runs
    await wait_for(lambda: standing(handle, "suspended"), timeout=60, what="suspended")
    assert _portal_status(admin, account.id) == "suspended"
    described = await handle.describe()
    assert described.search_attributes.get(SUBSCRIPTION_STATUS.name) == ["suspended"]
    # The saved queries of docs/processes.md find it, and its period's invoice.
    await wait_for(lambda: listed(client, PAST_DUE_QUERY, handle.id), what="the saved query")
    invoice = invoice_workflow_id(period_invoice_number(subscription_id(handle), 0))
    await wait_for(lambda: listed(client, UNPAID_PERIODS_QUERY, invoice), what="its invoice")

    details = await current_details(handle)  # what the Web UI shows of the run
    assert "**Stage:** suspended" in details and "**Open:** 642.60 EUR in 1 invoice(s)" in details
    await pay_period(client, admin, handle, 0, stage="overdue")
    await wait_for(lambda: standing(handle, "active"), timeout=60, what="active again")
    assert _portal_status(admin, account.id) == "active"
    shown = await view(handle)
    assert shown.periods_paid == 1 and shown.open_cents == 0
    await handle.execute_update(
        CANCEL_UPDATE, LifecycleChange(by="fiona", at_period_end=False), result_type=ChangeResult
    )


async def standing(handle: WorkflowHandle[Any, Any], wanted: str) -> bool:
    return (await view(handle)).status == wanted


def _portal_status(admin: Any, account_id: str) -> str:
    (record,) = [r for r in Ledger(admin).records if r["id"] == account_id]
    return str(record["status"])


async def portal_account(stack: Any, settings: Settings) -> PortalAccount:
    """A customer's account in the portal, made as the worker would."""
    portal = system_client(stack, settings, System.PORTAL)
    return await portal.call(
        "POST",
        "/accounts",
        PortalAccount,
        json={
            "external_ref": f"CUST-{uuid.uuid4().hex[:8].upper()}",
            "vendor_id": "cus_test",
            "display_name": "Initech",
            "contact_email": "billing@initech.example",
        },
    )


async def start_unpaid(
    client: Client, settings: Settings, crm: Crm, portal_ref: str
) -> WorkflowHandle[Any, SubscriptionResult]:
    """Overdue a second after its invoice is sent, suspended 3 s after that; the next period
    an hour on."""
    invoice = settings.invoice_policy().model_copy(
        update={"dunning_offsets": [timedelta(seconds=1)]}
    )
    return await start_subscription(
        client,
        settings,
        crm,
        portal_account_ref=portal_ref,
        period_length=timedelta(hours=1),
        suspend_after=timedelta(seconds=3),
        invoice=invoice,
    )


async def test_a_killed_worker_and_resets_neither_skip_nor_double_bill_a_period(
    client, settings, admin, crm, stack
):
    # Periods long enough for a kill, two resets and a payment before a fourth falls due.
    handle = await start_subscription(client, settings, crm, period_length=timedelta(seconds=25))
    sid = subscription_id(handle)
    await pay_period(client, admin, handle, 0)
    due = (await view(handle)).next_billing_at
    assert due is not None
    stack.kill_worker()  # the second period falls due while no worker runs
    await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 1.0)
    stack.start_worker()
    await pay_period(client, admin, handle, 1)
    await wait_for(lambda: _paid_periods(handle, 2), what="the second period paid")

    # The run that billed the second period, reset before that: it finds the invoice run there,
    # paid (its settlement went to the run after it), and bills nothing again.
    runs = [run async for run in client.list_workflows(f"WorkflowId = '{handle.id}'")]
    continued = [r for r in runs if r.status == WorkflowExecutionStatus.CONTINUED_AS_NEW]
    billed_second = max(continued, key=lambda r: r.start_time).run_id
    await reset_before(
        client.get_workflow_handle(handle.id, run_id=billed_second),
        stack.temporal_address,
        "start_child_workflow_execution_initiated_event_attributes",
    )
    await wait_for(lambda: _paid_periods(handle, 2), what="the reset run to know it is paid")
    # The current run, reset to its start as an operator does after a bad deploy.
    reset = subprocess.run(
        [str(find_temporal_cli()), "workflow", "reset", "--address", stack.temporal_address,
         "--workflow-id", handle.id, "--type", "FirstWorkflowTask", "--reason", "test"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert reset.returncode == 0, reset.stderr
    await pay_period(client, admin, handle, 2)
    await wait_for(lambda: _paid_periods(handle, 3), what="the third period paid")
    await handle.execute_update(
        CANCEL_UPDATE, LifecycleChange(by="fiona", at_period_end=False), result_type=ChangeResult
    )
    # The latest run's result: the runs `handle` started from ended in the resets.
    latest = client.get_workflow_handle(handle.id, result_type=SubscriptionResult)
    result = await asyncio.wait_for(latest.result(), 60)
    assert result.periods_billed == 3 and result.open_invoices == []
    for period in range(3):  # each once in billing, none skipped
        (invoice,) = billing_invoices(admin, period_invoice_number(sid, period))
        assert invoice["status"] == "paid"
    assert billing_invoices(admin, period_invoice_number(sid, 3)) == []


async def _paid(handle: WorkflowHandle[Any, Any], count: int) -> bool:
    return (await view(handle)).periods_paid == count


async def _paid_periods(handle: WorkflowHandle[Any, Any], count: int) -> bool:
    shown = await view(handle)
    return shown.periods_paid == count and shown.open_invoices == []
