"""Record the histories that `test_replay` guards: run against a dev stack (`backoffice dev up`).

.venv/bin/python -m tests.record_histories
"""

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

from devstack.stack import Stack
from domain.approvals import Decision
from domain.invoice import InvoiceGenerationInput, InvoicePolicy, InvoiceRequest, PaymentReceived
from domain.lead import LeadForm, LeadToCashInput
from domain.systems import WORKFLOW_TASK_QUEUE
from runtime.codec import decode_in_place
from runtime.settings import Settings, load_settings
from runtime.temporal import connect
from starters.approvals import decide
from starters.directory import Approver
from starters.invoices import void_invoice
from starters.sandbox_actions import move_deal, sign_envelope
from starters.start import invoice_workflow_id, lead_to_cash_id
from tests.helpers import failure_of, result_of, start, status, wait_for
from tests.invoicing import Crm, invoice_request
from tests.test_lead_to_cash import lead_form

OUT = Path(__file__).parent / "histories"
PAT = Approver(id="pat", name="Pat", email="pat@company.example", roles=["procurement"])
FIONA = Approver(id="fiona", name="Fiona", email="fiona@company.example", roles=["finance"])


async def _invoice(
    client: Client, crm: Crm, offsets: list[float] | None = None
) -> WorkflowHandle[Any, Any]:
    account_id, deal_id = crm.account_and_deal()
    terms = "immediate" if offsets else "net30"
    request = InvoiceRequest.model_validate(
        invoice_request(account_id, deal_id, payment_terms=terms)
    )
    policy = InvoicePolicy()
    if offsets:
        policy = InvoicePolicy(dunning_offsets=[timedelta(seconds=s) for s in offsets])
    handle = await client.start_workflow(
        "InvoiceGeneration",
        InvoiceGenerationInput(request=request, policy=policy),
        id=invoice_workflow_id(request.invoice_number),
        task_queue=WORKFLOW_TASK_QUEUE,
    )
    await wait_for(lambda: _stage_in(handle, "awaiting_payment", "overdue"), what="sending")
    return handle


async def _pay_in_full(handle: WorkflowHandle[Any, Any]) -> None:
    described = await handle.describe()
    amount = described.search_attributes.get("AmountCents", [0])[0]
    await handle.signal(
        "payment_received", PaymentReceived(payment_id="pay-1", amount_cents=amount)
    )
    await result_of(handle)


async def main() -> None:
    settings = load_settings()
    client = await connect()
    crm = Crm(Stack())
    recorded: dict[str, WorkflowHandle[Any, Any]] = {}

    happy = await start(client, settings)
    await result_of(happy)
    recorded["vendor_onboarding_happy"] = happy
    rejected = await start(client, settings, vendor_type="contractor", payment_terms="net15")
    await wait_for(lambda: _pending(rejected), timeout=30, what="approval")
    await decide(client, PAT, rejected.id, Decision.REJECT, "recorded for replay tests")
    await failure_of(rejected)
    recorded["vendor_onboarding_rejected"] = rejected

    paid = await _invoice(client, crm)
    await _pay_in_full(paid)
    recorded["invoice_paid"] = paid
    voided = await _invoice(client, crm)
    await void_invoice(client, FIONA, voided.id.removeprefix("invoice-"), "recorded for replay")
    await result_of(voided)
    recorded["invoice_voided"] = voided
    overdue = await _invoice(client, crm, offsets=[1.0, 2.0])
    await wait_for(lambda: _stage_in(overdue, "overdue"), timeout=30, what="overdue")
    await _pay_in_full(overdue)
    recorded["invoice_overdue_then_paid"] = overdue

    for outcome, overrides in (("won", {}), ("lost", {}), ("nurtured", NOT_QUALIFIED)):
        recorded[f"lead_to_cash_{outcome}"] = await _lead(client, settings, outcome, overrides)

    codec = client.data_converter.payload_codec
    assert codec is not None
    for name, handle in recorded.items():
        history = await handle.fetch_history()
        # Committed decrypted: the dev stack's transit key dies with its in-memory Vault.
        for event in history.events:
            await decode_in_place(event, codec)
        (OUT / f"{name}.json").write_text(history.to_json())
        print(f"wrote {OUT / name}.json")


NOT_QUALIFIED = {"budget_cents": 0, "authority": False, "need": "low", "timeline": "unknown"}


async def _lead(
    client: Client, settings: Settings, outcome: str, overrides: dict[str, Any]
) -> WorkflowHandle[Any, Any]:
    """Drive one lead to `outcome` the way people and systems would (sandbox admin API)."""
    form = LeadForm.model_validate(lead_form(**overrides))
    policy = settings.lead_policy().model_copy(update={"nurture_offsets": [timedelta(0)]})
    handle = await client.start_workflow(
        "LeadToCash",
        LeadToCashInput(form=form, policy=policy),
        id=lead_to_cash_id(form.lead_id),
        task_queue=WORKFLOW_TASK_QUEUE,
    )
    if outcome == "nurtured":
        await result_of(handle)
        return handle
    deal_id = await wait_for(lambda: _step(handle, "deal "), what="the deal")
    move_deal(settings, deal_id, "closed_won")
    await wait_for(lambda: _stage_in(handle, "contract_sent"), what="the contract")
    envelope_id = await wait_for(lambda: _step(handle, "envelope "), what="the envelope")
    if outcome == "lost":
        move_deal(settings, deal_id, "closed_lost")
        await result_of(handle)
        return handle
    sign_envelope(settings, envelope_id)
    child_id = await wait_for(lambda: _step(handle, "invoice workflow "), what="the invoice")
    child = client.get_workflow_handle(child_id)
    await wait_for(lambda: _stage_in(child, "awaiting_payment"), what="the invoice to be sent")
    await _pay_in_full(child)
    await result_of(handle)
    return handle


async def _step(handle: WorkflowHandle[Any, Any], prefix: str) -> str | None:
    for step in (await status(handle)).steps_done:
        if step.startswith(prefix):
            return step[len(prefix) :].split()[0]
    return None


async def _pending(handle: WorkflowHandle[Any, Any]) -> bool:
    return (await status(handle)).pending_approval is not None


async def _stage_in(handle: WorkflowHandle[Any, Any], *stages: str) -> bool:
    return (await status(handle)).stage in stages


if __name__ == "__main__":
    asyncio.run(main())
