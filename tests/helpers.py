"""Test data and the checks a user would make: sandbox ledger, audit rows, workflow results."""

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import select
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from chaos import evidence
from chaos.forms import iban as iban  # the tests' bank data, re-exported
from chaos.forms import vendor_application as vendor_application  # re-exported
from devstack.mailbox import Mailbox
from domain.status import WorkflowStatus
from domain.vendor import VendorApplication, VendorOnboardingResult
from runtime.db import AuditRow, WebhookEvent, make_engine
from runtime.settings import Settings
from starters.start import start_vendor_onboarding


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


class Ledger(evidence.Ledger):
    """The sandbox's record of everything every system holds and every change made, and every
    email the test stack's mailpit received (as `mail` records), read now (the fault suite's
    ledger view, `chaos.evidence.Ledger`). The one place tests read mail from."""

    def __init__(self, admin: httpx.Client, mailpit_url: str | None = None) -> None:
        read = evidence.Ledger.read(
            admin, mailpit_url or os.environ["BACKOFFICE_MAILPIT_URL"], drop_repeats=False
        )
        super().__init__(read.records, read.events)


async def first_email_refused(
    mailbox: Mailbox, settings: Settings, started: Awaitable[WorkflowHandle[Any, Any]]
) -> WorkflowHandle[Any, Any]:
    """Start a run while the SMTP server refuses every recipient with a 550 (permanent), and
    lift that once the run's first email was refused: the emails after it go out."""
    mailbox.refuse("Recipient", 550)
    try:
        handle = await started
        await wait_for(
            lambda: any(
                r.system == "mail" and r.status == 550 for r in audit_rows(settings, handle.id)
            ),
            what="the refused email",
        )
    finally:
        mailbox.clear_faults()
    return handle


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
