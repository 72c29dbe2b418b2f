"""An operator's `temporal workflow reset` at each process's riskiest point (just before it
creates something in another system) creates nothing twice: the repeated call sends the same
idempotency key and the same body, and gets the first answer back (an email, sent again over
SMTP, carries the same Message-ID)."""

import asyncio

from temporalio.client import WorkflowExecutionStatus

from domain.contract import INVOICE_ID_PREFIX, VENDOR_ONBOARDING_ID_PREFIX
from tests.helpers import Ledger, start, wait_for
from tests.invoicing import billing_invoices, pay
from tests.resets import reset_before
from tests.test_invoice import TOTAL, _start


async def _completed_anew(handle, old_run: str) -> None:
    async def done() -> bool:
        described = await handle.describe()
        return described.run_id != old_run and described.status != WorkflowExecutionStatus.RUNNING

    await wait_for(done, timeout=90, what="the reset run to finish")
    await asyncio.wait_for(handle.result(), 10)  # raises the run's failure, if it failed


async def test_a_vendor_run_reset_before_its_erp_vendor_creates_each_record_once(
    client, settings, admin, stack
):
    handle = await start(client, settings)
    await asyncio.wait_for(handle.result(), 60)
    key = handle.id.removeprefix(VENDOR_ONBOARDING_ID_PREFIX)

    old_run = await reset_before(handle, stack.temporal_address, "erp.create_vendor")
    await _completed_anew(handle, old_run)
    ledger = Ledger(admin)
    assert [v["status"] for v in ledger.of(key, "vendor")] == ["active"]
    assert [a["status"] for a in ledger.of(key, "account")] == ["active"]
    # SMTP has no idempotency key: the welcome email goes again, with its Message-ID, which a
    # receiver that drops repeats shows once.
    assert len({m["id"] for m in ledger.emails(key, "vendor-welcome")}) == 1


async def test_a_paid_invoice_reset_before_its_draft_creates_one_invoice(
    client, settings, admin, crm, stack
):
    handle = await _start(client, settings, crm)
    number = handle.id.removeprefix(INVOICE_ID_PREFIX)
    await wait_for(lambda: billing_invoices(admin, number), what="the draft")
    await wait_for(lambda: Ledger(admin).emails(number, "invoice"), what="the invoice email")
    pay(admin, number, TOTAL, payment_id=f"{number}-pay")
    await asyncio.wait_for(handle.result(), 60)

    # The payment's signal comes after the reset point: the reset run gets it again.
    old_run = await reset_before(handle, stack.temporal_address, "billing.create_invoice")
    await _completed_anew(handle, old_run)
    assert [i["status"] for i in billing_invoices(admin, number)] == ["paid"]
    assert len({m["id"] for m in Ledger(admin).emails(number, "invoice")}) == 1  # one Message-ID
