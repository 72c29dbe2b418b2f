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
from domain.systems import WORKFLOW_TASK_QUEUE
from runtime.settings import load_settings
from runtime.temporal import connect
from starters.approvals import decide
from starters.directory import Approver
from starters.invoices import void_invoice
from starters.start import invoice_workflow_id
from tests.helpers import failure_of, start, status, wait_for
from tests.invoicing import Crm, invoice_request

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
    await handle.result()


async def main() -> None:
    settings = load_settings()
    client = await connect()
    crm = Crm(Stack())
    recorded: dict[str, WorkflowHandle[Any, Any]] = {}

    happy = await start(client, settings)
    await happy.result()
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
    await voided.result()
    recorded["invoice_voided"] = voided
    overdue = await _invoice(client, crm, offsets=[1.0, 2.0])
    await wait_for(lambda: _stage_in(overdue, "overdue"), timeout=30, what="overdue")
    await _pay_in_full(overdue)
    recorded["invoice_overdue_then_paid"] = overdue

    for name, handle in recorded.items():
        (OUT / f"{name}.json").write_text((await handle.fetch_history()).to_json())
        print(f"wrote {OUT / name}.json")


async def _pending(handle: WorkflowHandle[Any, Any]) -> bool:
    return (await status(handle)).pending_approval is not None


async def _stage_in(handle: WorkflowHandle[Any, Any], *stages: str) -> bool:
    return (await status(handle)).stage in stages


if __name__ == "__main__":
    asyncio.run(main())
