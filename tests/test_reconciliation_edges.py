"""Reconciliation at its edges, on the real stack: a CRM failure becomes an unresolved item, a
deal already following a newer invoice is left alone, more lagging deals than one batch are all
fixed, and billing failing for good fails the run.

The session stack is shared: each check looks at this test's own invoices and deals only."""

from datetime import timedelta
from typing import Any

from domain.reconciliation import ReconciliationResult
from starters.reconciliation import start_reconciliation
from tests.helpers import failure_of, result_of
from tests.invoicing import Crm, pay
from tests.test_reconciliation import Billing, _crm_patch, _issued_day

BATCH = 10  # CRM calls a run makes at once by default (BACKOFFICE_RECONCILIATION_CRM_IN_FLIGHT)


async def _reconcile(client, settings, day) -> ReconciliationResult:
    outcome = await start_reconciliation(client, settings, day)
    handle = client.get_workflow_handle(outcome.workflow_id, result_type=ReconciliationResult)
    result: ReconciliationResult = await result_of(handle, timeout=180)
    return result


def _lagging_paid_deal(stack, admin, crm: Crm, billing: Billing) -> tuple[str, dict[str, Any]]:
    """A deal whose invoice billing holds as paid while the CRM still says open."""
    _, deal_id = crm.account_and_deal()
    invoice = billing.issue({"crm_deal_id": deal_id})
    pay(admin, invoice["number"], invoice["total_cents"], payment_id=f"{invoice['number']}-pay")
    _crm_patch(stack, deal_id, {"invoice_id": invoice["id"], "invoice_status": "open"})
    return deal_id, invoice


async def test_a_failing_crm_update_becomes_an_unresolved_item(stack, client, settings, admin, crm):
    billing = Billing(stack)
    deal_id, invoice = _lagging_paid_deal(stack, admin, crm, billing)
    admin.put(
        "/_admin/faults/crm",
        json={"status": 422, "code": "REFUSED_BY_TEST", "path": f"/deals/{deal_id}$",
              "method": "PATCH"},
    ).raise_for_status()  # fmt: skip

    result = await _reconcile(client, settings, _issued_day(invoice))

    [item] = [u for u in result.unresolved if u.invoice_id == invoice["id"]]
    assert (item.code, item.crm_deal_id) == ("REFUSED_BY_TEST", deal_id)
    assert not [f for f in result.fixed if f.deal_id == deal_id]
    assert crm.deal(deal_id)["invoice_status"] == "open"  # untouched


async def test_a_deal_following_a_newer_invoice_is_left_alone(stack, client, settings, admin, crm):
    billing = Billing(stack)
    _, deal_id = crm.account_and_deal()
    older = billing.issue({"crm_deal_id": deal_id})
    pay(admin, older["number"], older["total_cents"], payment_id=f"{older['number']}-pay")
    newer = billing.issue({})  # issued later; names no deal, but the deal names it
    _crm_patch(stack, deal_id, {"invoice_id": newer["id"], "invoice_status": "open"})

    result = await _reconcile(client, settings, _issued_day(older))

    assert not [f for f in result.fixed if f.deal_id == deal_id]
    assert older["id"] not in {u.invoice_id for u in result.unresolved}
    deal = crm.deal(deal_id)
    assert (deal["invoice_id"], deal["invoice_status"]) == (newer["id"], "open")


async def test_more_lagging_deals_than_one_batch_are_all_fixed(stack, client, settings, admin, crm):
    billing = Billing(stack)
    lagging = dict(_lagging_paid_deal(stack, admin, crm, billing) for _ in range(BATCH + 2))
    day = _issued_day(next(iter(lagging.values())))

    result = await _reconcile(client, settings, day)

    fixed = {f.deal_id: f for f in result.fixed if f.deal_id in lagging}
    assert set(fixed) == set(lagging)
    for deal_id, invoice in lagging.items():
        assert (fixed[deal_id].invoice_id, fixed[deal_id].invoice_status) == (invoice["id"], "paid")
        assert crm.deal(deal_id)["invoice_status"] == "paid"


async def test_billing_failing_for_good_fails_the_run(stack, client, settings, admin, crm):
    billing = Billing(stack)
    day = _issued_day(billing.issue({}))
    admin.put(
        "/_admin/faults/billing", json={"status": 503, "path": "/v1/invoices$", "method": "GET"}
    ).raise_for_status()
    # Each call gives up after seconds, not the stack's quarter of an hour.
    impatient = settings.model_copy(update={"reconciliation_give_up_after": timedelta(seconds=5)})

    outcome = await start_reconciliation(client, impatient, day)
    error = await failure_of(client.get_workflow_handle(outcome.workflow_id))

    assert error.type == "api_error", error  # Stripe's type for its own 5xx
