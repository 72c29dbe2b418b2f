"""Test helpers for invoices: a CRM account and deal to bill, requests, the billing ledger."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.client import Client, WorkflowHandle

from devstack.crm_seed import SandboxCrm
from domain.contract import INVOICE_GENERATION, invoice_workflow_id
from domain.invoice import InvoiceGenerationInput, InvoicePolicy, InvoiceRequest, InvoiceResult
from domain.systems import WORKFLOW_TASK_QUEUE
from runtime.settings import Settings

# The tests set up what they invoice the way the demo does.
Crm = SandboxCrm

# At the finance threshold (tax free): the invoice waits for finance before it is sent.
AT_THRESHOLD = [
    {"description": "Licence", "quantity": 1, "unit_price_cents": 1_000_000, "tax_rate_bp": 0}
]
# Hour-long approval windows (the test stack's are seconds), as an `InvoicePolicy` change.
PATIENT_APPROVALS: dict[str, Any] = {
    "approval_timeouts": dict.fromkeys(
        ("remind_after", "escalate_after", "expire_after"), timedelta(hours=1)
    )
}


def invoice_request(account_id: str, deal_id: str, **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "invoice_number": f"INV-{uuid.uuid4().hex[:10].upper()}",
        "crm_account_id": account_id,
        "crm_deal_id": deal_id,
        "lines": [
            {
                "description": "Platform subscription",
                "quantity": 12,
                "unit_price_cents": 25_000,
                "tax_rate_bp": 1900,
            },
            {
                "description": "Onboarding",
                "quantity": 1,
                "unit_price_cents": 99_950,
                "tax_rate_bp": 1900,
            },
        ],
        "currency": "EUR",
        "payment_terms": "net30",
        "issue_date": datetime.now(UTC).date().isoformat(),
        "requested_by": "billing-service",
    }
    request.update(overrides)
    return request


def billing_invoices(admin: httpx.Client, number: str) -> list[dict[str, Any]]:
    ledger = admin.get("/_admin/ledger", params={"system": "billing"}).raise_for_status().json()
    return [
        r for r in ledger["records"] if r["kind"] == "invoice" and r["data"].get("number") == number
    ]


def billing_customers(admin: httpx.Client, crm_account_id: str) -> list[dict[str, Any]]:
    """Billing's customers made for one CRM account."""
    ledger = admin.get("/_admin/ledger", params={"system": "billing"}).raise_for_status().json()
    return [
        r
        for r in ledger["records"]
        if r["kind"] == "customer" and r.get("external_ref") == crm_account_id
    ]


def second_deal(crm: Crm, account_id: str) -> str:
    """Another won deal on an account that `crm.account_and_deal()` made."""
    deal = crm._post(
        "/deals",
        {
            "account_id": account_id,
            "name": f"Expansion {uuid.uuid4().hex[:8]}",
            "amount_cents": 250_000,
            "currency": "EUR",
            "stage": "closed_won",
            "owner": "sam",
        },
    )
    return str(deal["id"])


def paid_cents(invoice: dict[str, Any]) -> int:
    """What billing holds as paid on one of `billing_invoices`' records."""
    return int(invoice["data"]["amount_paid_cents"])


def pay(
    admin: httpx.Client, number: str, amount_cents: int, payment_id: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"amount_cents": amount_cents}
    if payment_id:
        body["payment_id"] = payment_id
    response = admin.post(f"/_admin/billing/invoices/{number}/payments", json=body)
    return dict(response.raise_for_status().json())


async def start_invoice_run(
    client: Client,
    settings: Settings,
    crm: Crm,
    *,
    policy: dict[str, Any] | None = None,
    **overrides: Any,
) -> WorkflowHandle[Any, InvoiceResult]:
    """An invoice for a new CRM account and deal, with the settings' policy changed by `policy`."""
    request = InvoiceRequest.model_validate(invoice_request(*crm.account_and_deal(), **overrides))
    base = settings.invoice_policy().model_dump()
    return await client.start_workflow(
        INVOICE_GENERATION,
        InvoiceGenerationInput(request=request, policy=InvoicePolicy(**(base | (policy or {})))),
        id=invoice_workflow_id(request.invoice_number),
        task_queue=WORKFLOW_TASK_QUEUE,
        result_type=InvoiceResult,
    )
