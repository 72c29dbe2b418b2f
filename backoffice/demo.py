"""`backoffice demo`: bring the local stack up, run vendor onboardings end to end, show the result.

Decisions are made by seeded demo approvers through the same code path as the CLI. The stack
stays up afterwards for exploring the runs in the Temporal Web UI.
"""

import asyncio
import sys
import uuid
from typing import Any

from devstack.errors import StackError
from devstack.stack import Stack
from domain.approvals import Decision
from domain.vendor import VendorApplication
from runtime.settings import Settings, load_settings
from runtime.temporal import connect
from runtime.vault import secret_store
from starters.approvals import decide, workflow_status
from starters.directory import Directory
from starters.start import start_vendor_onboarding

DEMO_VENDORS: list[tuple[str, dict[str, Any], Decision]] = [
    (
        "contractor, approved by procurement",
        {
            "legal_name": "Northwind Consulting Ltd",
            "tax_id": "GB123456789",
            "country": "GB",
            "vendor_type": "contractor",
            "payment_terms": "net15",
            "bank_account": {"iban": "GB82WEST12345698765432", "bic": "WESTGB2LXXX"},
        },
        Decision.APPROVE,
    ),
    (
        "high-risk country, rejected and compensated",
        {
            "legal_name": "Contoso Trading LLC",
            "tax_id": "IR98765432",
            "country": "IR",
            "vendor_type": "supplier",
            "payment_terms": "net30",
            "bank_account": {"iban": "DE89370400440532013000", "bic": "COBADEFFXXX"},
        },
        Decision.REJECT,
    ),
]


def _application(suffix: str, fields: dict[str, Any], n: int) -> VendorApplication:
    return VendorApplication.model_validate(
        {
            "application_id": f"DEMO-{suffix}-{n}",
            "contact_name": "Demo Contact",
            "contact_email": f"vendor{n}@demo.example",
            "requested_by": "rory",
            **fields,
            "tax_id": fields["tax_id"] + suffix[:4].upper(),
        }
    )


async def _run_one(
    settings: Settings, label: str, app: VendorApplication, decision: Decision
) -> list[str]:
    client = await connect()
    started = await start_vendor_onboarding(client, settings, app)
    print(f"  started {started.workflow_id} ({label})")
    handle = client.get_workflow_handle(started.workflow_id)
    while (status := await workflow_status(client, started.workflow_id)).pending_approval is None:
        if status.outcome:
            break
        await asyncio.sleep(0.5)
    if status.pending_approval:
        roles = ", ".join(status.pending_approval.allowed_roles)
        print(f"  {started.workflow_id}: waiting for {roles}")
        approver = await Directory(secret_store(settings)).get("pat")
        outcome = await decide(client, approver, started.workflow_id, decision, "demo decision")
        print(f"  {started.workflow_id}: pat decided {decision.value} -> {outcome.reason}")
    try:
        await handle.result()
    except Exception as exc:  # the rejected run fails by design; its message lists what was undone
        print(f"  {started.workflow_id}: ended: {getattr(exc, 'cause', exc)}")
    final = await workflow_status(client, started.workflow_id)
    records = "; ".join(final.steps_done[-4:] + final.compensations)
    return [started.workflow_id, final.outcome or final.stage, records, started.web_ui_url]


async def _run(settings: Settings) -> list[list[str]]:
    suffix = uuid.uuid4().hex[:6].upper()
    runs = [
        _run_one(settings, label, _application(suffix, fields, n), decision)
        for n, (label, fields, decision) in enumerate(DEMO_VENDORS, start=1)
    ]
    return list(await asyncio.gather(*runs))


def main() -> int:
    stack = Stack()
    try:
        addresses = stack.up()
    except StackError as exc:
        print(f"backoffice demo: the stack did not come up: {exc}", file=sys.stderr)
        return 1
    settings = load_settings()
    print("\nRunning the vendor onboarding demo:")
    rows = asyncio.run(_run(settings))
    print("\nSummary")
    for workflow_id, outcome, records, link in rows:
        print(f"- {workflow_id}: {outcome}\n    {records}\n    {link}")
    print(f"\nTemporal Web UI: {addresses.temporal_ui}")
    print(
        "The stack keeps running. Try `backoffice approvals`; stop it with `backoffice dev down`."
    )
    return 0
