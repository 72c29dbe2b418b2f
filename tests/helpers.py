"""Test data and the checks a user would make: sandbox ledger, audit rows, workflow results."""

import asyncio
import os
import select as io_select
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import delete, select
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.audit import AuditLog
from activities.http import SystemClient
from chaos import evidence
from chaos.forms import iban as iban  # the tests' bank data, re-exported
from chaos.forms import vendor_application as vendor_application  # re-exported
from devstack.mailbox import Mailbox
from domain.contract import STATUS_QUERY
from domain.status import WorkflowStatus
from domain.systems import System
from domain.vendor import VendorApplication, VendorOnboardingResult
from runtime.circuit import Circuit
from runtime.db import AuditRow, CircuitRow, WebhookEvent, make_engine
from runtime.settings import Settings
from runtime.vault import SecretStore
from starters.start import start_vendor_onboarding
from workers.registry import _auth


def patient(settings: Settings) -> Settings:
    """These settings with approval windows of an hour: the test stack's are seconds, so a
    test's own steps under load may outlast them (a reminder, an escalation, an expiry)."""
    hour = timedelta(hours=1)
    return settings.model_copy(
        update={f"approval_{t}_after": hour for t in ("remind", "escalate", "expire")}
    )


async def start(client: Client, settings: Settings, **overrides: Any) -> WorkflowHandle[Any, Any]:
    app = VendorApplication.model_validate(vendor_application(**overrides))
    outcome = await start_vendor_onboarding(client, settings, app)
    return client.get_workflow_handle(outcome.workflow_id, result_type=VendorOnboardingResult)


# How long a test waits for a run's result: an activity may retry for an hour, a test may not.
RESULT_TIMEOUT = 120.0


async def result_of(handle: WorkflowHandle[Any, Any], timeout: float = RESULT_TIMEOUT) -> Any:
    """The run's result, waited for at most `timeout` seconds."""
    return await asyncio.wait_for(handle.result(), timeout)


async def failure_of(handle: WorkflowHandle[Any, Any]) -> ApplicationError:
    """The ApplicationError the run failed with (fails the test if it completed)."""
    try:
        result = await result_of(handle)
    except WorkflowFailureError as exc:
        assert isinstance(exc.cause, ApplicationError), exc.cause
        return exc.cause
    raise AssertionError(f"expected the run to fail, it returned {result}")


def new_application_id() -> str:
    """A vendor application id, chosen before the start (so a fault can be scoped to its run)."""
    return f"APP-{uuid.uuid4().hex[:10].upper()}"


def for_run(workflow_id: str, rule: dict[str, Any]) -> dict[str, Any]:
    """A sandbox fault rule that only the creates of this run meet (their Idempotency-Key
    starts with its workflow id): no other test's run uses it up or fails on it."""
    return rule | {"headers": {"Idempotency-Key": f"{workflow_id}/"}}


def fault_for_run(admin: httpx.Client, system: str, workflow_id: str, rule: dict[str, Any]) -> None:
    """Set `rule` as the system's fault, met by this run's creates only (`for_run`)."""
    admin.put(f"/_admin/faults/{system}", json=for_run(workflow_id, rule)).raise_for_status()


async def terminate_runs_started_since(client: Client, since: datetime) -> list[str]:
    """End every run started at or after `since` that still runs (a test's leftovers, which
    would otherwise time out, escalate or compensate during later tests)."""
    query = f'ExecutionStatus = "Running" AND StartTime >= "{since.isoformat()}"'
    ended = []
    async for execution in client.list_workflows(query):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        try:
            await handle.terminate(reason="the test that started it ended")
        except RPCError:
            continue  # it ended meanwhile
        ended.append(execution.id)
    return ended


async def stage_in(handle: WorkflowHandle[Any, Any], *stages: str) -> bool:
    return (await status(handle)).stage in stages


async def status(handle: WorkflowHandle[Any, Any]) -> WorkflowStatus:
    result: WorkflowStatus = await handle.query(STATUS_QUERY, result_type=WorkflowStatus)
    return result


async def listed_ids(client: Client, query: str) -> set[str]:
    """The ids of the runs a visibility query lists."""
    return {w.id async for w in client.list_workflows(query)}


async def listed(client: Client, query: str, workflow_id: str) -> bool:
    return workflow_id in await listed_ids(client, query)


async def current_details(handle: WorkflowHandle[Any, Any]) -> str:
    """The run's current details, as the Web UI shows them."""
    meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return str(meta.current_details)


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


def line_from(process: subprocess.Popen[bytes], wanted: str, timeout: float) -> str:
    """The first line of the process's output (opened with `bufsize=0`) that contains `wanted`;
    fails with the output so far when the process ends or `timeout` passes first."""
    assert process.stdout is not None
    deadline, output = time.monotonic() + timeout, b""
    while time.monotonic() < deadline:
        ready, _, _ = io_select.select([process.stdout], [], [], 1.0)
        if not ready:
            continue
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        output += line
        if wanted.encode() in line:
            return line.decode().strip()
    raise AssertionError(f"no line with {wanted!r}; the output:\n{output.decode()[-4000:]}")


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


def system_client(
    stack: Any, settings: Settings, system: System, sent: list[httpx.Request] | None = None
) -> SystemClient:
    """The client of `system` as the stack's worker builds it (Vault credentials, the audit, the
    system's circuit breaker in the app database), in this test process; `sent` collects every
    request it sends."""
    env = stack.worker_env()
    secrets = SecretStore(
        env["BACKOFFICE_VAULT_ADDR"],
        env["BACKOFFICE_VAULT_ROLE_ID"],
        env["BACKOFFICE_VAULT_SECRET_ID"],
    )

    async def watch(request: httpx.Request) -> None:
        if sent is not None:
            sent.append(request)

    http = httpx.AsyncClient(timeout=30, event_hooks={"request": [watch]})
    engine = make_engine(settings.resolved_database_url)
    audit = AuditLog(engine)
    base_url = settings.system_url(system)
    circuit = Circuit(engine, system.value, settings.circuit_policy(system))
    auth = _auth(system, secrets, http, base_url, audit)
    return SystemClient(system, base_url, http, auth, audit, circuit=circuit)


def close_breakers(settings: Settings) -> None:
    """Forget every circuit breaker's state (a test's outage ends with the test)."""
    engine = make_engine(settings.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(delete(CircuitRow))
    engine.dispose()


async def vendor_whose_compensation_fails(
    client: Client, settings: Settings, admin: httpx.Client
) -> WorkflowHandle[Any, Any]:
    """A vendor onboarding whose portal account is refused (a permanent failure after the ERP
    vendor exists) and whose compensation then fails for good: the ERP refuses that vendor's
    deactivation once. The portal's refusal comes a few seconds late, so the vendor's id is
    known before the ERP's refusal is set for it alone."""
    application_id = f"APP-{uuid.uuid4().hex[:10].upper()}"
    workflow_id = f"vendor-onboarding-{application_id}"
    refused = {"status": 422, "code": "REFUSED_BY_TEST", "method": "POST", "count": 1}
    late = refused | {"path": "/accounts$", "latency_ms": 5000}
    fault_for_run(admin, "portal", workflow_id, late)
    handle = await start(client, settings, application_id=application_id)

    async def vendor_id() -> str | None:
        for step in (await status(handle)).steps_done:
            if step.startswith("vendor ") and step.endswith(" created"):
                return step.split()[1]
        return None

    vendor = await wait_for(vendor_id, what="the ERP vendor")
    deactivation = refused | {"path": f"/vendors/{vendor}/deactivate$"}
    admin.put("/_admin/faults/erp", json=deactivation).raise_for_status()
    return handle
