"""Record the histories that `test_replay` and `backoffice replay-check --histories` guard: one
real run of every path of every process, on a stack of its own (free ports, a temp data dir,
timers of seconds), written decrypted into `tests/histories/recorded-<today>/` (`--out DIR`).

.venv/bin/python -m tests.record_histories     # about two minutes; needs what the tests need

Earlier recordings stay where they are: they are the runs of older code that today's code must
still replay.
"""

import argparse
import asyncio
import contextlib
import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowHistory,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.invoice_runs import OUTCOME_ACTIVITY
from devstack.config import StackConfig
from devstack.stack import Stack
from domain.approvals import ApprovalKind, ApprovalTimeouts, Decision, Resolution
from domain.contract import (
    AMOUNT_CENTS,
    CANCEL_UPDATE,
    CHANGE_PLAN_UPDATE,
    INVOICE_GENERATION,
    INVOICE_ID_PREFIX,
    LEAD_TO_CASH,
    VENDOR_ONBOARDING,
    invoice_workflow_id,
    lead_to_cash_id,
    vendor_onboarding_id,
)
from domain.invoice import InvoiceGenerationInput, InvoiceRequest
from domain.lead import LeadForm, LeadToCashInput
from domain.subscription import ChangeResult, LifecycleChange, PlanChange
from domain.systems import WORKFLOW_TASK_QUEUE
from domain.vendor import VendorApplication, VendorOnboardingInput
from runtime.codec import decode_in_place
from runtime.settings import Settings, load_settings
from runtime.temporal import connect
from starters.approvals import decide
from starters.directory import Approver
from starters.invoices import void_invoice
from starters.reconciliation import start_reconciliation
from starters.sandbox_actions import move_deal, sign_envelope
from tests.helpers import (
    for_run,
    start,
    status,
    vendor_application,
    vendor_whose_compensation_fails,
    wait_for,
)
from tests.invoicing import Crm, invoice_request, pay
from tests.resets import reset_before
from tests.stack import SHORT_APPROVAL_TIMEOUTS, free_port_config
from tests.test_lead_to_cash import lead_form
from tests.test_subscription import (
    pay_period,
    portal_account,
    standing,
    start_subscription,
    start_unpaid,
    view,
)

HISTORIES = Path(__file__).parent / "histories"
PAT = Approver(id="pat", name="Pat", email="pat@company.example", roles=["procurement"])
LENA = Approver(id="lena", name="Lena", email="lena@company.example", roles=["procurement-lead"])
FIONA = Approver(id="fiona", name="Fiona", email="fiona@company.example", roles=["finance"])
OMAR = Approver(id="omar", name="Omar", email="omar@company.example", roles=["operations"])
NOT_QUALIFIED: dict[str, Any] = {
    "budget_cents": 0,
    "authority": False,
    "need": "low",
    "timeline": "unknown",
}
CONTRACTOR = {"vendor_type": "contractor", "payment_terms": "net15"}  # needs procurement
# Approvals decided (or cancelled) by the recorder wait long enough for a loaded machine; the
# escalated one escalates within seconds, then waits; the expired one keeps the stack's timers.
PATIENT = ApprovalTimeouts(
    remind_after=timedelta(minutes=5),
    escalate_after=timedelta(minutes=5),
    expire_after=timedelta(minutes=10),
)
ESCALATE_SOON = ApprovalTimeouts(
    remind_after=timedelta(seconds=1),
    escalate_after=timedelta(seconds=1),
    expire_after=timedelta(minutes=10),
)
_PATIENT_DEAL = {
    "owner_reminder_after": timedelta(minutes=5),
    "stale_after": timedelta(minutes=10),
    "signature_reminder_after": timedelta(minutes=5),
    "signature_timeout": timedelta(minutes=10),
}
ABOVE_FINANCE_THRESHOLD = [
    {"description": "Licence", "quantity": 1, "unit_price_cents": 1_000_000, "tax_rate_bp": 0}
]

Handle = WorkflowHandle[Any, Any]


@dataclass
class Recorder:
    """What the paths drive the stack with."""

    client: Client
    settings: Settings
    crm: Crm
    admin: httpx.Client
    stack: Stack


# ---- vendor onboarding -------------------------------------------------------------------


async def vendor_onboarding_happy(r: Recorder) -> Handle:
    handle = await start(r.client, r.settings)
    await handle.result()
    return handle


async def _vendor(r: Recorder, timeouts: ApprovalTimeouts, **overrides: Any) -> Handle:
    """A vendor onboarding with its own approval timers (the stack's expire in seconds)."""
    app = VendorApplication.model_validate(vendor_application(**overrides))
    policy = r.settings.onboarding_policy().model_copy(update={"approval_timeouts": timeouts})
    return await r.client.start_workflow(
        VENDOR_ONBOARDING,
        VendorOnboardingInput(application=app, policy=policy),
        id=vendor_onboarding_id(app.application_id),
        task_queue=WORKFLOW_TASK_QUEUE,
    )


async def vendor_onboarding_approved(r: Recorder) -> Handle:
    return await _vendor_decided(r, PAT, Decision.APPROVE)


async def vendor_onboarding_rejected(r: Recorder) -> Handle:
    return await _vendor_decided(r, PAT, Decision.REJECT)


async def vendor_onboarding_escalated(r: Recorder) -> Handle:
    handle = await _vendor(r, ESCALATE_SOON, **CONTRACTOR)
    await wait_for(lambda: _escalated(handle), timeout=30, what="the escalation")
    await decide(r.client, LENA, handle.id, Decision.APPROVE, "recorded: escalated")
    await handle.result()
    return handle


async def vendor_onboarding_expired(r: Recorder) -> Handle:
    handle = await start(r.client, r.settings, **CONTRACTOR)
    await _ended(handle)
    return handle


async def vendor_onboarding_cancelled(r: Recorder) -> Handle:
    handle = await _vendor(r, PATIENT, **CONTRACTOR)
    await wait_for(lambda: _waiting_for_a_person(handle), timeout=60, what="the approval")
    await handle.cancel()
    await _ended(handle)
    return handle


async def vendor_onboarding_compensated_after_creation(r: Recorder) -> Handle:
    """The ERP vendor exists when the portal refuses the account: the vendor is deactivated."""
    refuse_once = {"status": 422, "code": "REFUSED", "path": "/accounts$", "method": "POST"}
    r.admin.put("/_admin/faults/portal", json={**refuse_once, "count": 1}).raise_for_status()
    try:
        handle = await start(r.client, r.settings)
        await _ended(handle)
    finally:
        r.admin.delete("/_admin/faults").raise_for_status()
    return handle


async def vendor_onboarding_compensated_after_a_retry(r: Recorder) -> Handle:
    """The portal refuses the account, then the ERP the vendor's deactivation: the compensation
    waits in the review queue, operations retry it, and the run ends compensated."""
    try:
        handle = await vendor_whose_compensation_fails(r.client, r.settings, r.admin)
        await wait_for(lambda: _in_review(handle), timeout=120, what="the review item")
        await decide(r.client, OMAR, handle.id, Resolution.RETRY, "recorded: retry")
        await _ended(handle)
    finally:
        r.admin.delete("/_admin/faults").raise_for_status()
    return handle


async def _vendor_decided(r: Recorder, approver: Approver, decision: Decision) -> Handle:
    handle = await _vendor(r, PATIENT, **CONTRACTOR)
    await wait_for(lambda: _pending(handle), timeout=30, what="the approval")
    await decide(r.client, approver, handle.id, decision, f"recorded: {decision.value}")
    await _ended(handle)
    return handle


# ---- invoice generation ------------------------------------------------------------------


async def invoice_paid(r: Recorder) -> Handle:
    handle = await _invoice(r)
    await _pay(r, handle)
    return handle


async def invoice_partially_paid_then_paid(r: Recorder) -> Handle:
    handle = await _invoice(r)
    amount = await _amount(handle)
    pay(r.admin, _number(handle), amount // 3, payment_id=f"{_number(handle)}-part-1")
    await wait_for(lambda: _paid_part(handle), what="the partial payment")
    pay(r.admin, _number(handle), amount - amount // 3, payment_id=f"{_number(handle)}-part-2")
    await _ended(handle)
    return handle


async def invoice_overdue_then_paid(r: Recorder) -> Handle:
    handle = await _invoice(r, offsets=[1.0, 2.0])
    await wait_for(lambda: _stage_in(handle, "overdue"), timeout=30, what="overdue")
    await _pay(r, handle)
    return handle


async def invoice_voided(r: Recorder) -> Handle:
    handle = await _invoice(r)
    await void_invoice(r.client, FIONA, _number(handle), "recorded for replay")
    await _ended(handle)
    return handle


async def invoice_approval_approved(r: Recorder) -> Handle:
    handle = await _invoice(r, lines=ABOVE_FINANCE_THRESHOLD, sent=False)
    await wait_for(lambda: _pending(handle), timeout=30, what="finance approval")
    await decide(r.client, FIONA, handle.id, Decision.APPROVE, "recorded: approved")
    await wait_for(lambda: _stage_in(handle, "awaiting_payment"), what="sending")
    await _pay(r, handle)
    return handle


async def invoice_approval_rejected(r: Recorder) -> Handle:
    handle = await _invoice(r, lines=ABOVE_FINANCE_THRESHOLD, sent=False)
    await wait_for(lambda: _pending(handle), timeout=30, what="finance approval")
    await decide(r.client, FIONA, handle.id, Decision.REJECT, "recorded: rejected")
    await _ended(handle)
    return handle


async def invoice_cancelled_awaiting_approval(r: Recorder) -> Handle:
    handle = await _invoice(r, lines=ABOVE_FINANCE_THRESHOLD, sent=False)
    await wait_for(lambda: _waiting_for_a_person(handle), timeout=60, what="finance approval")
    await handle.cancel()
    await _ended(handle)
    return handle


async def invoice_cancelled_awaiting_payment(r: Recorder) -> Handle:
    handle = await _invoice(r)
    await handle.cancel()
    await _ended(handle)
    return handle


async def _invoice(
    r: Recorder, offsets: list[float] | None = None, lines: Any = None, sent: bool = True
) -> Handle:
    account_id, deal_id = r.crm.account_and_deal()
    overrides: dict[str, Any] = {"payment_terms": "immediate" if offsets else "net30"}
    if lines:
        overrides["lines"] = lines
    request = InvoiceRequest.model_validate(invoice_request(account_id, deal_id, **overrides))
    policy = r.settings.invoice_policy().model_copy(update={"approval_timeouts": PATIENT})
    if offsets:
        policy = policy.model_copy(
            update={"dunning_offsets": [timedelta(seconds=s) for s in offsets]}
        )
    handle = await r.client.start_workflow(
        INVOICE_GENERATION,
        InvoiceGenerationInput(request=request, policy=policy),
        id=invoice_workflow_id(request.invoice_number),
        task_queue=WORKFLOW_TASK_QUEUE,
    )
    if sent:
        await wait_for(lambda: _stage_in(handle, "awaiting_payment", "overdue"), what="sending")
    return handle


async def _amount(handle: Handle) -> int:
    amount = (await handle.describe()).search_attributes.get(AMOUNT_CENTS.name, [0])[0]
    assert isinstance(amount, int)
    return amount


def _number(handle: Handle) -> str:
    return handle.id.removeprefix(INVOICE_ID_PREFIX)


async def _pay(r: Recorder, handle: Handle) -> None:
    """Paid in billing: its signed webhook reaches the run through the API."""
    pay(r.admin, _number(handle), await _amount(handle), payment_id=f"{_number(handle)}-pay")
    await _ended(handle)


async def _paid_part(handle: Handle) -> bool:
    return any("payment" in step for step in (await status(handle)).steps_done)


# ---- lead to cash ------------------------------------------------------------------------


async def lead_to_cash_won(r: Recorder) -> Handle:
    handle = await _contract_sent(r)
    sign_envelope(r.settings, await _envelope(handle))
    child_id = await wait_for(lambda: _step(handle, "invoice workflow "), what="the invoice")
    child = r.client.get_workflow_handle(child_id)
    await wait_for(lambda: _stage_in(child, "awaiting_payment"), what="the invoice to be sent")
    await _pay(r, child)
    await _ended(handle)
    return handle


async def lead_to_cash_attention_retried(r: Recorder) -> Handle:
    """The CRM refuses the customer's account once after the signature: the run waits in the
    review queue, operations retry the step, and the lead is won."""
    lead_id = lead_form()["lead_id"]
    refuse_once = {"status": 422, "code": "REFUSED", "method": "POST", "path": "/accounts$"}
    rule = for_run(lead_to_cash_id(lead_id), refuse_once | {"count": 1})
    r.admin.put("/_admin/faults/crm", json=rule).raise_for_status()
    try:
        handle = await _contract_sent(r, lead_id=lead_id)
        sign_envelope(r.settings, await _envelope(handle))
        await wait_for(lambda: _in_review(handle), timeout=120, what="the review item")
        await decide(r.client, OMAR, handle.id, Resolution.RETRY, "recorded: retry")
        child_id = await wait_for(lambda: _step(handle, "invoice workflow "), what="the invoice")
        child = r.client.get_workflow_handle(child_id)
        await wait_for(lambda: _stage_in(child, "awaiting_payment"), what="the invoice sent")
        await _pay(r, child)
        await _ended(handle)
    finally:
        r.admin.delete("/_admin/faults").raise_for_status()
    return handle


async def lead_to_cash_lost(r: Recorder) -> Handle:
    handle = await _contract_sent(r)
    await _envelope(handle)
    move_deal(r.settings, await _deal(handle), "closed_lost")
    await _ended(handle)
    return handle


async def lead_to_cash_nurtured(r: Recorder) -> Handle:
    handle = await _lead(r, **NOT_QUALIFIED)
    await _ended(handle)
    return handle


async def lead_to_cash_stale(r: Recorder) -> Handle:
    """Nobody moves the deal: a reminder to its owner, then `stale`."""
    handle = await _lead(r)
    await _ended(handle)
    return handle


async def lead_to_cash_unsigned(r: Recorder) -> Handle:
    """Won, but the contract is never signed: a reminder, then the envelope is voided."""
    handle = await _contract_sent(r, patient=False)
    await _ended(handle)
    return handle


async def lead_to_cash_cancelled(r: Recorder) -> Handle:
    """Cancelled while the contract waits for its signature (deal won, envelope out)."""
    handle = await _contract_sent(r)
    await _envelope(handle)
    await handle.cancel()
    await _ended(handle)
    return handle


async def _lead(r: Recorder, *, patient: bool = False, **overrides: Any) -> Handle:
    """A lead; `patient`: its deal and contract wait minutes, not the stack's seconds."""
    form = LeadForm.model_validate(lead_form(**overrides))
    policy = r.settings.lead_policy()
    if patient:
        policy = policy.model_copy(update=_PATIENT_DEAL)
    return await r.client.start_workflow(
        LEAD_TO_CASH,
        LeadToCashInput(form=form, policy=policy),
        id=lead_to_cash_id(form.lead_id),
        task_queue=WORKFLOW_TASK_QUEUE,
    )


async def _contract_sent(r: Recorder, *, patient: bool = True, **overrides: Any) -> Handle:
    handle = await _lead(r, patient=patient, **overrides)
    move_deal(r.settings, await _deal(handle), "closed_won")
    await wait_for(lambda: _stage_in(handle, "contract_sent"), what="the contract")
    return handle


async def _deal(handle: Handle) -> str:
    deal: str = await wait_for(lambda: _step(handle, "deal "), what="the deal")
    return deal


async def _envelope(handle: Handle) -> str:
    envelope: str = await wait_for(lambda: _step(handle, "envelope "), what="the envelope")
    return envelope


# ---- subscription ------------------------------------------------------------------------


async def subscription_continued(r: Recorder) -> Handle:
    """A subscription's first run: its first period billed, then continued as new."""
    handle = await start_subscription(r.client, r.settings, r.crm)
    await pay_period(r.client, r.admin, handle, 0)
    first = r.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    await wait_for(lambda: _continued(first), what="the first run to continue as new")
    await _cancel_now(handle)
    return first


async def subscription_reset_past_its_invoice_continued(r: Recorder) -> Handle:
    """The run that billed the second period, reset to before it started that period's invoice
    run: the invoice run is there and paid, so the new run asks Temporal how it ended
    (patched), then continues as new."""
    handle = await start_subscription(r.client, r.settings, r.crm)
    await pay_period(r.client, r.admin, handle, 0)
    await pay_period(r.client, r.admin, handle, 1)
    await wait_for(lambda: _paid(handle, 2), what="two periods paid")
    query = f"WorkflowId = '{handle.id}' AND ExecutionStatus = 'ContinuedAsNew'"
    continued = [run async for run in r.client.list_workflows(query)]
    billed_second = max(continued, key=lambda run: run.start_time).run_id
    await reset_before(
        r.client.get_workflow_handle(handle.id, run_id=billed_second),
        r.stack.temporal_address,
        "start_child_workflow_execution_initiated_event_attributes",
    )
    asked = await wait_for(lambda: _run_that_asked(r, handle.id), what="the reset run")
    await wait_for(lambda: _continued(asked), what="the reset run to continue as new")
    await _cancel_now(r.client.get_workflow_handle(handle.id))
    return asked


async def _paid(handle: Handle, count: int) -> bool:
    return (await view(handle)).periods_paid == count


async def _run_that_asked(r: Recorder, workflow_id: str) -> Handle | None:
    """The run of `workflow_id` that asked how an invoice run ended, once there is one."""
    async for run in r.client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        handle = r.client.get_workflow_handle(workflow_id, run_id=run.run_id)
        async for event in handle.fetch_history_events():
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name == OUTCOME_ACTIVITY:
                return handle
    return None


async def _continued(handle: Handle) -> bool:
    return (await handle.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW


async def subscription_ended_at_period_end(r: Recorder) -> Handle:
    """A later run: a seat change, its period paid, cancelled at the period's end."""
    handle = await start_subscription(r.client, r.settings, r.crm)
    await pay_period(r.client, r.admin, handle, 0)
    seats = PlanChange(by="sam", seats=20)
    await handle.execute_update(CHANGE_PLAN_UPDATE, seats, result_type=ChangeResult)
    await pay_period(r.client, r.admin, handle, 1)
    cancel = LifecycleChange(by="fiona", reason="moving to annual billing")
    await handle.execute_update(CANCEL_UPDATE, cancel, result_type=ChangeResult)
    await _ended(handle)
    return r.client.get_workflow_handle(handle.id)


async def subscription_suspended_then_paid(r: Recorder) -> Handle:
    """Past due, the portal account suspended, paid, active again; then cancelled now."""
    account = await portal_account(r.stack, r.settings)
    handle = await start_unpaid(r.client, r.settings, r.crm, account.external_ref)
    await wait_for(lambda: standing(handle, "suspended"), timeout=90, what="suspended")
    await pay_period(r.client, r.admin, handle, 0, stage="overdue")
    await wait_for(lambda: standing(handle, "active"), timeout=90, what="active again")
    await _cancel_now(handle)
    await _ended(handle)
    return handle


async def lead_to_cash_won_subscription(r: Recorder) -> Handle:
    """A recurring deal: the subscription's first period paid, the lead won."""
    handle = await _contract_sent(r, billing="monthly")
    sign_envelope(r.settings, await _envelope(handle))
    child_id = await wait_for(lambda: _step(handle, "subscription workflow "), what="it")
    subscription = r.client.get_workflow_handle(child_id)
    await pay_period(r.client, r.admin, subscription, 0)
    await _ended(handle)
    await _cancel_now(subscription)
    return handle


async def _cancel_now(handle: Handle) -> None:
    now = LifecycleChange(by="fiona", at_period_end=False)
    await handle.execute_update(CANCEL_UPDATE, now, result_type=ChangeResult)


# ---- reconciliation ----------------------------------------------------------------------


async def reconciliation_today(r: Recorder) -> Handle:
    """Today's invoices (those the paths above issued), checked against the CRM."""
    outcome = await start_reconciliation(r.client, r.settings, datetime.now(UTC).date())
    handle = r.client.get_workflow_handle(outcome.workflow_id)
    await _ended(handle)
    return handle


async def reconciliation_cancelled(r: Recorder) -> Handle:
    """Cancelled while billing answers slowly (its list of the day's invoices under way)."""
    slow = {"path": "/v1/invoices$", "method": "GET", "latency_ms": 3000}
    r.admin.put("/_admin/faults/billing", json=slow).raise_for_status()
    try:
        day = datetime.now(UTC).date() - timedelta(days=1)
        outcome = await start_reconciliation(r.client, r.settings, day)
        handle = r.client.get_workflow_handle(outcome.workflow_id)
        await wait_for(lambda: _activity_pending(handle), what="the billing call")
        await handle.cancel()
        await _ended(handle)
    finally:
        r.admin.delete("/_admin/faults").raise_for_status()
    return handle


async def _paged_day(r: Recorder, day_offset: int) -> tuple[str, str]:
    """A seeded day of 7 invoices over two deals, read 2 a page and 2 pages a run (4 runs);
    returns the workflow id and the first run's id."""
    day = datetime.now(UTC).date() - timedelta(days=day_offset)
    deals = [r.crm.account_and_deal()[1] for _ in range(2)]
    seed = {"day": day.isoformat(), "count": 7, "prefix": f"REC{day_offset}", "deal_ids": deals}
    r.admin.post("/_admin/billing/invoices/seed", json=seed).raise_for_status()
    small = {"reconciliation_page_size": 2, "reconciliation_pages_per_run": 2}
    outcome = await start_reconciliation(r.client, r.settings.model_copy(update=small), day)
    await _ended(r.client.get_workflow_handle(outcome.workflow_id))
    return outcome.workflow_id, outcome.run_id


async def reconciliation_continued(r: Recorder) -> Handle:
    """The first run of a paged day: two pages, then continued as new."""
    workflow_id, first_run = await _paged_day(r, 3)
    return r.client.get_workflow_handle(workflow_id, run_id=first_run)


async def reconciliation_paged_last(r: Recorder) -> Handle:
    """The last run of a paged day: carried on from a cursor, the export merged and in place."""
    workflow_id, _ = await _paged_day(r, 4)
    return r.client.get_workflow_handle(workflow_id)


# ---- plumbing ----------------------------------------------------------------------------

Path_ = Callable[[Recorder], Awaitable[Handle]]
# Paths that share the sandbox freely run side by side; those with faults run alone, after.
TOGETHER: list[Path_] = [
    vendor_onboarding_happy,
    vendor_onboarding_approved,
    vendor_onboarding_rejected,
    vendor_onboarding_escalated,
    vendor_onboarding_expired,
    vendor_onboarding_cancelled,
    invoice_paid,
    invoice_partially_paid_then_paid,
    invoice_overdue_then_paid,
    invoice_voided,
    invoice_approval_approved,
    invoice_approval_rejected,
    invoice_cancelled_awaiting_approval,
    invoice_cancelled_awaiting_payment,
    lead_to_cash_won,
    lead_to_cash_lost,
    lead_to_cash_nurtured,
    lead_to_cash_stale,
    lead_to_cash_unsigned,
    lead_to_cash_cancelled,
    subscription_continued,
    subscription_reset_past_its_invoice_continued,
    subscription_ended_at_period_end,
    subscription_suspended_then_paid,
    lead_to_cash_won_subscription,
]
ALONE: list[Path_] = [
    vendor_onboarding_compensated_after_creation,
    vendor_onboarding_compensated_after_a_retry,
    lead_to_cash_attention_retried,
    reconciliation_today,
    reconciliation_cancelled,
    reconciliation_continued,
    reconciliation_paged_last,
]
PATHS = [p.__name__ for p in TOGETHER + ALONE]


async def _step(handle: Handle, prefix: str) -> str | None:
    for step in (await status(handle)).steps_done:
        if step.startswith(prefix):
            return step[len(prefix) :].split()[0]
    return None


async def _pending(handle: Handle) -> bool:
    return (await status(handle)).pending_approval is not None


async def _escalated(handle: Handle) -> bool:
    pending = (await status(handle)).pending_approval
    return pending is not None and pending.escalation_level == 1


async def _stage_in(handle: Handle, *stages: str) -> bool:
    try:
        return (await status(handle)).stage in stages
    except RPCError as exc:  # a child run named in its parent's status, not started yet
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise


async def _waiting_for_a_person(handle: Handle) -> bool:
    """The approval is open and its notification sent: nothing but a person can move it."""
    return await _pending(handle) and not await _activity_pending(handle)


async def _in_review(handle: Handle) -> bool:
    pending = (await status(handle)).pending_approval
    return pending is not None and pending.request.kind == ApprovalKind.ATTENTION


async def _activity_pending(handle: Handle) -> bool:
    return bool((await handle.describe()).raw_description.pending_activities)


async def _ended(handle: Handle) -> None:
    """The run has closed, however it ended (failed, cancelled and completed are all paths)."""
    with contextlib.suppress(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), timeout=300)


async def record(
    client: Client, settings: Settings, stack: Stack, out: Path, only: list[str]
) -> None:
    together = [p for p in TOGETHER if not only or p.__name__ in only]
    with stack.sandbox_admin() as admin:
        r = Recorder(client, settings, Crm(stack), admin, stack)
        handles = dict(zip([p.__name__ for p in together], await _all(r, together), strict=True))
        for path in ALONE:
            if not only or path.__name__ in only:
                handles[path.__name__] = await path(r)
    codec = client.data_converter.payload_codec
    assert codec is not None
    histories = {name: await handle.fetch_history() for name, handle in handles.items()}
    for history in histories.values():
        # Written decrypted: the recording stack's transit key dies with its Vault.
        for event in history.events:
            await decode_in_place(event, codec)
    for name, history in histories.items():
        _check_ending(name, history)
    for name, handle in handles.items():
        outcome = name.removeprefix("lead_to_cash_")
        if outcome in ("won", "lost", "nurtured", "stale", "unsigned"):
            ended = (await status(handle)).outcome
            if ended != outcome:
                raise SystemExit(f"{name} ended with outcome {ended}, not {outcome}")
    out.mkdir(parents=True, exist_ok=True)
    for name, history in histories.items():
        (out / f"{name}.json").write_text(history.to_json())
        print(f"wrote {out / name}.json", flush=True)


def _check_ending(path: str, history: WorkflowHistory) -> None:
    """A path that ended otherwise than its name says was not recorded: stop, write nothing
    (the history goes to a temp file, for a look at what happened)."""
    last = history.events[-1].event_type
    expected = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    if "cancelled" in path:
        expected = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED
    elif "continued" in path:
        expected = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    elif any(word in path for word in ("rejected", "expired", "compensated")):
        expected = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED
    if last != expected:
        kept = Path(tempfile.mkstemp(prefix=f"{path}-", suffix=".json")[1])
        kept.write_text(history.to_json())
        raise SystemExit(
            f"{path} ended {EventType.Name(last)}, not {EventType.Name(expected)}: see {kept}"
        )


async def _all(r: Recorder, paths: list[Path_]) -> list[Handle]:
    async def one(path: Path_) -> Handle:
        handle = await path(r)
        print(f"recorded {path.__name__}: {handle.id}", flush=True)
        return handle

    return list(await asyncio.gather(*(one(p) for p in paths)))


def _stack_config(data_dir: Path) -> StackConfig:
    return free_port_config(data_dir, with_worker=True, extra_env=SHORT_APPROVAL_TIMEOUTS)


async def _main(out: Path, only: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="record-histories-") as data_dir:
        stack = Stack(_stack_config(Path(data_dir)), say=lambda m: print(m, flush=True))
        stack.up()
        try:
            # Every client of this process (settings, Temporal, Vault) finds the stack.
            os.environ.update({**stack.client_env(), "BACKOFFICE_ENV_FILE": str(stack.env_file)})
            await record(await connect(), load_settings(), stack, out, only)
        finally:
            stack.down()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.record_histories", description=__doc__)
    today = datetime.now(UTC).date()
    parser.add_argument("--out", type=Path, default=HISTORIES / f"recorded-{today}")
    parser.add_argument("--only", action="append", default=[], choices=PATHS, metavar="PATH")
    args = parser.parse_args()
    asyncio.run(_main(args.out, args.only))


if __name__ == "__main__":
    main()
