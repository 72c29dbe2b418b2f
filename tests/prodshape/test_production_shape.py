"""The production shape, run and broken on purpose: Temporal's own server on PostgreSQL, OpenBao
in server mode and two worker processes (tests/prodshape/conftest.py). The three processes and
the reconciliation run end to end through the API and the systems' signed webhooks; then a
worker is SIGKILLed mid-burst, the other stopped with SIGTERM while its activities run, and
temporal-server and PostgreSQL are restarted: every run still completes, nothing is created twice,
and every approval that was pending is still pending and decidable."""

import asyncio
import csv
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest

from backoffice.demo import VENDORS
from backoffice.demo_runs import (
    DemoApi,
    demo_key,
    invoice_with_approval,
    lead_to_cash,
    vendor_onboarding,
)
from deploy.local import LocalShape, process_env
from devstack.crm_seed import SandboxCrm
from devstack.process import kill, stop
from devstack.stack import Stack
from domain.invoice import InvoiceRequest
from runtime.settings import load_settings
from starters.sandbox_actions import record_payment
from tests.helpers import Ledger
from tests.invoicing import billing_invoices
from tests.prodshape.conftest import ShapeView

pytestmark = pytest.mark.timeout(900)

CONTRACTOR = VENDORS[0][2]  # procurement decides it: it waits for an approval


def _report(workflow_id: str, what: str) -> None:
    print(f"  {datetime.now(UTC):%H:%M:%S}  {workflow_id:<42} {what}", flush=True)


def _api(view: ShapeView) -> DemoApi:
    return DemoApi(cast(Stack, view), _report)


def _cli(shape: LocalShape, *args: str) -> subprocess.CompletedProcess[str]:
    """`backoffice ...` as an operator on the host runs it, with the CLI's own Vault login."""
    env = {**shape.client_env(), "BACKOFFICE_ENV_FILE": str(shape.layout.role_env("cli"))}
    return subprocess.run(
        [sys.executable, "-m", "backoffice.cli", *args],
        env=process_env(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_health_checks_answer_as_the_compose_file_asks_them(shape):
    for index in (1, 2):
        done = subprocess.run(
            [sys.executable, "-m", "backoffice.cli", "deploy", "worker-health"],
            env=process_env(shape.worker_env(index)),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "healthy: polling" in done.stdout
    health = shape.cluster_health()
    assert health.returncode == 0, health.stderr
    assert "SERVING" in health.stdout


async def test_the_three_processes_and_the_reconciliation_run_end_to_end(shape, view):
    settings = load_settings()
    api = _api(view)
    crm = SandboxCrm(cast(Stack, view))
    key = demo_key()
    runs = [lead_to_cash(api, settings, key), invoice_with_approval(api, settings, crm, key)]
    for n, (label, decision, application) in enumerate(VENDORS, start=1):
        body = {**application, "tax_id": f"{application['country']}{key}{n:03d}"}
        runs.append(vendor_onboarding(api, f"{key}-{n}", label, decision, body))
    try:
        finished = await asyncio.gather(*runs)
    finally:
        await api.close()
    assert {run.label: run.outcome for run in finished} == {
        "web-form lead all the way to cash": "won",
        "invoice above the finance threshold": "paid",
        "contractor, approved by procurement": "onboarded",
        "high-risk country, rejected and compensated": "approval_rejected",
    }

    # The day's reconciliation, as an operator starts it; its export lists the paid invoice.
    day = datetime.now(ZoneInfo(settings.reconciliation_time_zone)).date()
    done = _cli(shape, "reconcile", "--day", day.isoformat(), "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"reconciliation-{day} started" in done.stdout
    export = settings.resolved_export_dir / f"invoices-{day}.csv"
    rows = {row["number"]: row for row in csv.DictReader(export.open())}
    assert rows[f"DEMO-INV-{key}"]["status"] == "paid"


def _small_invoice(account_id: str, deal_id: str, number: str) -> dict[str, Any]:
    """Below the finance threshold: it runs straight to billing, no approval."""
    line = {"description": "Support", "quantity": 1, "unit_price_cents": 20_000, "tax_rate_bp": 0}
    return {
        "invoice_number": number,
        "crm_account_id": account_id,
        "crm_deal_id": deal_id,
        "lines": [line],
        "currency": "EUR",
        "payment_terms": "net30",
        "issue_date": datetime.now(UTC).date().isoformat(),
        "requested_by": "billing-service",
    }


async def _pending_approval(api: DemoApi, workflow_id: str) -> str:
    status = await api.until(
        workflow_id, lambda s: s.get("pending_approval") is not None, "an approval"
    )
    return str(status["pending_approval"]["request"]["approval_id"])


async def test_runs_survive_killed_workers_and_restarted_servers_without_duplicates(shape, view):
    settings = load_settings()
    api = _api(view)
    crm = SandboxCrm(cast(Stack, view))
    key = demo_key()
    admin = shape.sandbox_admin()
    # Billing answers slowly: invoice activities are in flight when the workers go down.
    slow = {"path": "/v1/invoices", "method": "POST", "latency_ms": 1500}
    admin.put("/_admin/faults/billing", json=slow).raise_for_status()
    try:
        vendors: list[tuple[str, dict[str, Any]]] = []
        invoices: dict[str, dict[str, Any]] = {}
        for n in range(3):
            body: dict[str, Any] = {
                **CONTRACTOR,
                "application_id": f"PS-{key}-{n}",
                "contact_name": "Dana Demo",
                "contact_email": f"vendor-{key.lower()}-{n}@demo.example",
                "requested_by": "rory",
                "tax_id": f"GB{key}{n:03d}",
            }
            vendors.append(
                (body["application_id"], await api.start("/v1/vendor-onboardings", body, "vendor"))
            )
        pending = {
            started["workflow_id"]: await _pending_approval(api, started["workflow_id"])
            for _, started in vendors
        }
        for n in range(4):
            account_id, deal_id = await asyncio.to_thread(crm.account_and_deal, "Umbrella")
            invoice = _small_invoice(account_id, deal_id, f"PS-INV-{key}-{n}")
            started = await api.start("/v1/invoices", invoice, "invoice")
            invoices[started["workflow_id"]] = invoice
            if n == 1:
                # In the middle of the burst: a crash, no chance to finish anything.
                worker_1 = shape.process("worker-1")
                assert worker_1 is not None and kill(worker_1)
        shape.start_worker("worker-1")
        # The other one is stopped as an orchestrator stops it: SIGTERM, then its grace time.
        worker_2 = shape.process("worker-2")
        assert worker_2 is not None and stop(worker_2, timeout=40)
        shape.start_worker("worker-2")
        shape.restart_temporal()
        shape.restart_postgres()
    finally:
        admin.delete("/_admin/faults").raise_for_status()

    try:
        # Every approval that was pending still is, with the same id, and can be decided.
        for workflow_id, approval_id in pending.items():
            assert await _pending_approval(api, workflow_id) == approval_id
            await api.decide("pat", workflow_id, "approve", "after the restarts")
        for workflow_id in pending:
            final = await api.until(workflow_id, lambda s: s.get("outcome") is not None, "the end")
            assert final["outcome"] == "onboarded", final
        for workflow_id, body in invoices.items():
            await api.until(
                workflow_id, lambda s: s["stage"] == "awaiting_payment", "the invoice sent"
            )
            total = InvoiceRequest.model_validate(body).totals().total_cents
            number = body["invoice_number"]
            await asyncio.to_thread(record_payment, settings, number, total, f"{number}-pay")
        for workflow_id in invoices:
            final = await api.until(workflow_id, lambda s: s.get("outcome") is not None, "payment")
            assert final["outcome"] == "paid", final
    finally:
        await api.close()

    # Nothing was created twice in any system.
    ledger = Ledger(admin, shape.mailpit_url)
    for application_id, _ in vendors:
        assert len(ledger.of(application_id, "vendor")) == 1, application_id
        assert len(ledger.of(application_id, "account")) == 1, application_id
    for body in invoices.values():
        assert len(billing_invoices(admin, body["invoice_number"])) == 1
    admin.close()
    test_the_health_checks_answer_as_the_compose_file_asks_them(shape)
