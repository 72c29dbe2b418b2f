"""Every payload of every process's history is encrypted (inputs, results, signals, updates,
failures), and neither a canary secret, a canary bank account nor a canary email shows in a
history, the worker's or the API's log or the audit rows."""

import asyncio
import json
import os
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle

from domain.approvals import Decision
from domain.contract import AMOUNT_CENTS, PAYMENT_RECEIVED_SIGNAL, vendor_onboarding_id
from domain.invoice import InvoiceRequest, PaymentReceived
from runtime.codec import ENCODING
from runtime.db import AuditRow, make_engine
from starters.approvals import decide
from starters.directory import Approver
from starters.start import start_invoice
from tests.helpers import failure_of, start, status, vendor_application, wait_for
from tests.invoicing import Crm, invoice_request
from tests.security.history import (
    event_failures,
    event_payloads,
    events_of,
    found,
    patch_marker,
    spellings,
)
from tests.test_cli import backoffice
from tests.test_lead_to_cash import lead_form

OLGA = Approver(id="olga", name="Olga", email="olga@company.example", roles=["procurement"])
NOT_QUALIFIED = {"budget_cents": 0, "authority": False, "need": "low", "timeline": "unknown"}


async def _vendor_happy_from_the_cli(
    client, cli_env, tmp_path, iban: str, email: str
) -> WorkflowHandle[Any, Any]:
    app = vendor_application(bank_account={"iban": iban, "bic": "DEUTDEFFXXX"}, contact_email=email)
    file = tmp_path / "application.json"
    file.write_text(json.dumps(app))
    started = await asyncio.to_thread(
        backoffice, "start", "vendor-onboarding", str(file), env=cli_env
    )
    assert started.returncode == 0, started.stderr
    handle = client.get_workflow_handle(vendor_onboarding_id(app["application_id"]))
    await asyncio.wait_for(handle.result(), 120)
    return handle


async def _vendor_rejected(client, settings, iban: str, email: str) -> WorkflowHandle[Any, Any]:
    handle = await start(
        client,
        settings,
        vendor_type="contractor",
        payment_terms="net15",
        bank_account={"iban": iban, "bic": "DEUTDEFFXXX"},
        contact_email=email,
    )
    await wait_for(lambda: _pending(handle), timeout=30, what="the risk review")
    outcome = await decide(client, OLGA, handle.id, Decision.REJECT, f"bank {iban} unknown")
    assert outcome.accepted, outcome
    await failure_of(handle)
    return handle


async def _invoice_paid_by_signal(client, settings, stack) -> WorkflowHandle[Any, Any]:
    account_id, deal_id = Crm(stack).account_and_deal()
    request = InvoiceRequest.model_validate(invoice_request(account_id, deal_id))
    outcome = await start_invoice(client, settings, request)
    handle = client.get_workflow_handle(outcome.workflow_id)
    await wait_for(lambda: _stage(handle, "awaiting_payment"), what="the invoice to be sent")
    amount = (await handle.describe()).search_attributes[AMOUNT_CENTS.name][0]
    await handle.signal(
        PAYMENT_RECEIVED_SIGNAL, PaymentReceived(payment_id=f"{handle.id}-pay", amount_cents=amount)
    )
    await asyncio.wait_for(handle.result(), 60)
    return handle


async def _lead_nurtured_through_the_api(client, stack, email: str) -> WorkflowHandle[Any, Any]:
    token = stack.credentials()["api_clients"]["svc-onboarding"]
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30, trust_env=False) as api:
        answer = await api.post(
            "/v1/leads",
            json=lead_form(**NOT_QUALIFIED, email=email),
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 202, answer.text
    handle = client.get_workflow_handle(answer.json()["workflow_id"])
    await asyncio.wait_for(handle.result(), 60)
    return handle


async def _pending(handle) -> bool:
    return (await status(handle)).pending_approval is not None


async def _stage(handle, *stages: str) -> bool:
    return (await status(handle)).stage in stages


@pytest.fixture(scope="module")
async def runs(
    client: Client,
    settings,
    stack,
    cli_env_module,
    tmp_path_factory,
    canary_iban,
    canary_secret,
    canary_email,
) -> dict[str, WorkflowHandle[Any, Any]]:
    """One run of each process, started by the CLI, this test's client and the API."""
    tmp = tmp_path_factory.mktemp("encryption")
    return {
        "vendor_happy": await _vendor_happy_from_the_cli(
            client, cli_env_module, tmp, canary_iban, canary_email
        ),
        "vendor_rejected": await _vendor_rejected(client, settings, canary_iban, canary_email),
        "invoice_paid": await _invoice_paid_by_signal(client, settings, stack),
        "lead_nurtured": await _lead_nurtured_through_the_api(client, stack, canary_email),
    }


@pytest.fixture(scope="module")
def cli_env_module(stack) -> dict[str, str]:
    return {**os.environ, "BACKOFFICE_ENV_FILE": str(stack.env_file), **stack.client_env()}


@pytest.fixture(scope="module")
async def histories(runs) -> dict[str, list[HistoryEvent]]:
    return {name: await events_of(handle) for name, handle in runs.items()}


def _kind(event: HistoryEvent) -> str:
    return str(event.WhichOneof("attributes")).removesuffix("_event_attributes")


async def test_every_payload_of_every_process_is_encrypted(histories):
    kinds: set[str] = set()
    for name, events in histories.items():
        sealed = 0
        for event in events:
            for path, payload in event_payloads(event):
                encoding = payload.metadata.get("encoding")
                assert encoding == ENCODING, f"{name}: {_kind(event)} {path} is {encoding!r}"
                sealed += 1
                kinds.add(_kind(event))
        assert sealed >= 5, f"{name}: only {sealed} payloads"
    # Inputs, results, activity arguments and results, signals, updates, the failure.
    assert {
        "workflow_execution_started",
        "workflow_execution_completed",
        "workflow_execution_failed",
        "activity_task_scheduled",
        "activity_task_completed",
        "workflow_execution_signaled",
        "workflow_execution_update_accepted",
        "workflow_execution_update_completed",
    } <= kinds, kinds


async def test_the_only_plain_payloads_are_patch_names(histories):
    """A patch marker is written by Temporal's core, unencrypted: it may hold the patch's name
    (and whether it is deprecated), nothing else."""
    seen = 0
    for name, events in histories.items():
        for event in events:
            if not patch_marker(event):
                continue
            for path, payload in found(event, Payload):
                assert json.loads(payload.data).keys() <= {"id", "deprecated"}, (name, path)
                seen += 1
    assert seen, "no run of these paths is behind a patch any more: drop this test"


async def test_failure_messages_and_stack_traces_are_encrypted(histories, canary_iban):
    failures = [
        (name, path, failure)
        for name, events in histories.items()
        for event in events
        for path, failure in event_failures(event)
    ]
    assert any(name == "vendor_rejected" for name, _, _ in failures)
    for name, path, failure in failures:
        assert failure.message == "Encoded failure", (name, path, failure.message)
        assert failure.stack_trace == "", (name, path)
        assert failure.encoded_attributes.metadata["encoding"] == ENCODING, (name, path)


async def test_canaries_are_nowhere_in_histories_logs_or_audit(
    runs, histories, settings, stack, canary_iban, canary_secret, canary_email
):
    raw = {name: await _raw_history(handle) for name, handle in runs.items()}
    log = stack.worker_log_path().read_text()
    api_log = stack.api_log_path().read_text()
    audit = _audit_text(settings, [h.id for h in runs.values()])
    assert audit, "expected audit rows for the runs"
    # The canary secret did travel: the worker used it to send the emails of these runs.
    assert any(r.startswith("mail") for r in audit), "no mail call was audited"
    for canary in (canary_iban, canary_secret, canary_email):
        for form in spellings(canary):
            for name, text in raw.items():
                assert form not in text, f"a canary is in the history of {name}"
            assert form not in log, "a canary is in the worker log"
            assert form not in api_log, "a canary is in the API log"
            assert all(form not in row for row in audit), "a canary is in an audit row"
    for name, events in histories.items():
        for event in events:
            for _, payload in event_payloads(event):
                assert canary_iban.encode() not in payload.data, name


async def _raw_history(handle: WorkflowHandle[Any, Any]) -> str:
    return (await handle.fetch_history()).to_json()


def _audit_text(settings, workflow_ids: list[str]) -> list[str]:
    engine = make_engine(settings.resolved_database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(AuditRow).where(AuditRow.workflow_id.in_(workflow_ids)))
            return [" ".join(str(v) for v in (r.system, *r)) for r in rows]
    finally:
        engine.dispose()
