"""Test data and the checks a user would make: sandbox ledger, audit rows, workflow results."""

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from domain.status import WorkflowStatus
from domain.vendor import VendorApplication, VendorOnboardingResult
from runtime.db import AuditRow, WebhookEvent, make_engine
from runtime.settings import Settings
from starters.start import start_vendor_onboarding


def iban(country: str = "DE", bban: str | None = None) -> str:
    """A valid IBAN (check digits computed) for test data."""
    bban = bban or f"{uuid.uuid4().int % 10**18:018d}"
    digits = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def vendor_application(**overrides: Any) -> dict[str, Any]:
    key = uuid.uuid4().hex[:10].upper()
    app: dict[str, Any] = {
        "application_id": f"APP-{key}",
        "legal_name": f"Acme Components {key} GmbH",
        "tax_id": f"DE{uuid.uuid4().int % 10**9:09d}",
        "country": "DE",
        "vendor_type": "supplier",
        "payment_terms": "net30",
        "contact_name": "Dana Example",
        "contact_email": f"dana.{key.lower()}@acme.example",
        "bank_account": {"iban": iban(), "bic": "DEUTDEFFXXX"},
        "requested_by": "rory",
    }
    app.update(overrides)
    return app


async def start(client: Client, settings: Settings, **overrides: Any) -> WorkflowHandle[Any, Any]:
    app = VendorApplication.model_validate(vendor_application(**overrides))
    outcome = await start_vendor_onboarding(client, settings, app)
    return client.get_workflow_handle(outcome.workflow_id, result_type=VendorOnboardingResult)


async def failure_of(handle: WorkflowHandle[Any, Any]) -> ApplicationError:
    """The ApplicationError the run failed with (fails the test if it completed)."""
    try:
        result = await asyncio.wait_for(handle.result(), timeout=120)
    except WorkflowFailureError as exc:
        assert isinstance(exc.cause, ApplicationError), exc.cause
        return exc.cause
    raise AssertionError(f"expected the run to fail, it returned {result}")


async def status(handle: WorkflowHandle[Any, Any]) -> WorkflowStatus:
    result: WorkflowStatus = await handle.query("status", result_type=WorkflowStatus)
    return result


async def wait_for(
    check: Callable[[], Any], *, timeout: float = 60, what: str = "condition"
) -> Any:
    """Poll an async or sync check until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.3)


class Ledger:
    """The sandbox's record of everything every system holds and every change made."""

    def __init__(self, admin: httpx.Client) -> None:
        data = admin.get("/_admin/ledger").raise_for_status().json()
        self.records: list[dict[str, Any]] = data["records"]
        self.events: list[dict[str, Any]] = data["events"]

    def of(self, external_ref: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.records
            if (r.get("external_ref") == external_ref or _tagged(r, external_ref))
            and (kind is None or r["kind"] == kind)
        ]

    def emails(self, business_key: str, template: str | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.records
            if r["system"] == "mail"
            and _tagged(r, business_key)
            and (template is None or r["data"].get("template") == template)
        ]

    def events_for(self, record_ids: set[str]) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("record_id") in record_ids]


def _tagged(record: dict[str, Any], business_key: str) -> bool:
    tags = (record.get("data") or {}).get("tags") or {}
    return bool(tags.get("business_key") == business_key)


def audit_rows(settings: Settings, workflow_id: str) -> list[AuditRow]:
    engine = make_engine(settings.resolved_database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(AuditRow).where(AuditRow.workflow_id == workflow_id).order_by(AuditRow.id)
            )
            return list(rows)  # type: ignore[arg-type]
    finally:
        engine.dispose()


def webhook_row(settings: Settings, system: str, event_id: str) -> WebhookEvent:
    """The inbox's record of one provider event."""
    engine = make_engine(settings.resolved_database_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                select(WebhookEvent).where(
                    WebhookEvent.system == system, WebhookEvent.event_id == event_id
                )
            ).one()
            return row  # type: ignore[return-value]
    finally:
        engine.dispose()
