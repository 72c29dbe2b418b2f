"""The demo's business runs, driven the way services, people and systems drive them in production:
starts and decisions through the HTTP API, payments, deal moves and signatures in the systems."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel

from devstack.crm_seed import SandboxCrm
from devstack.stack import Stack
from domain.contract import invoice_number_of
from domain.invoice import InvoiceRequest
from domain.money import line_tax_cents
from runtime.settings import Settings
from starters.sandbox_actions import move_deal, record_payment, sign_envelope

Report = Callable[[str, str], None]

# How often a status the API answers 503 (Temporal busy) is asked again.
BUSY_RETRIES = 6


class DemoFailed(Exception):
    """A run did not get where the demo expected; the message says which and what to read."""


class DemoRun(BaseModel):
    label: str
    workflow_id: str
    outcome: str
    web_ui_url: str


class DemoApi:
    """The HTTP API as the seeded demo service client and approvers use it."""

    def __init__(self, stack: Stack, report: Report, *, interactive: bool = False) -> None:
        self._interactive = interactive
        self._stages: dict[str, str] = {}
        self._inbox = f"{stack.api_url}/inbox"
        credentials = stack.credentials()
        self._service = {"Authorization": f"Bearer {credentials['api_clients']['svc-onboarding']}"}
        self._passwords: dict[str, str] = credentials["approvers"]
        self._http = httpx.AsyncClient(base_url=stack.api_url, timeout=30, trust_env=False)
        self._report = report
        self._worker_log = stack.worker_log_path()

    async def start(self, path: str, body: dict[str, Any], label: str) -> dict[str, Any]:
        answer = await self._http.post(path, json=body, headers=self._service)
        if answer.status_code not in (200, 202):
            raise DemoFailed(f"the API refused to start {label}: {answer.text}")
        started: dict[str, Any] = answer.json()
        self._report(started["workflow_id"], f"started ({label})")
        return started

    async def status(self, workflow_id: str) -> dict[str, Any]:
        """The run's `status`; a busy Temporal (503, Retry-After) is asked again."""
        for _ in range(BUSY_RETRIES):
            answer = await self._http.get(f"/v1/workflows/{workflow_id}", headers=self._service)
            if answer.status_code != 503:
                break
            await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
        answer.raise_for_status()
        status: dict[str, Any] = answer.json()
        return status

    async def until(
        self,
        workflow_id: str,
        done: Callable[[dict[str, Any]], bool],
        what: str,
        limit: float = 180,
    ) -> dict[str, Any]:
        """Poll the run's `status` (reporting each new stage) until `done` holds."""
        deadline = asyncio.get_running_loop().time() + limit
        while True:
            status = await self.status(workflow_id)
            last = status["stage"]
            if self._stages.get(workflow_id) != last:
                self._stages[workflow_id] = last
                self._report(workflow_id, last)
            if done(status):
                return status
            if status.get("outcome") and not done(status):
                raise DemoFailed(
                    f"{workflow_id} ended {status['outcome']} while the demo waited for {what} "
                    f"(problem: {status.get('problem')}); read {self._worker_log}"
                )
            if asyncio.get_running_loop().time() > deadline:
                raise DemoFailed(
                    f"{workflow_id} did not reach {what} in {limit:.0f} s (stage {last}); "
                    f"read {self._worker_log}"
                )
            await asyncio.sleep(0.5)

    async def decide(self, approver: str, workflow_id: str, decision: str, comment: str) -> None:
        status = await self.until(
            workflow_id, lambda s: s.get("pending_approval") is not None, "an approval"
        )
        approval_id = status["pending_approval"]["request"]["approval_id"]
        if self._interactive:
            self._report(
                workflow_id, f"waiting for {approver} to {decision} in the inbox: {self._inbox}"
            )
            await self.until(
                workflow_id, lambda s: s.get("pending_approval") is None, "a decision", 3600
            )
            return
        answer = await self._http.post(
            f"/v1/approvals/{workflow_id}/{approval_id}",
            json={"decision": decision, "comment": comment},
            auth=(approver, self._passwords[approver]),
        )
        if answer.status_code != 200:
            raise DemoFailed(f"{approver}'s decision on {workflow_id} was refused: {answer.text}")
        self._report(workflow_id, f"{approver} decided: {decision}")

    async def close(self) -> None:
        await self._http.aclose()


def _step_id(status: dict[str, Any], prefix: str) -> str | None:
    for step in status["steps_done"]:
        if step.startswith(prefix):
            return str(step[len(prefix) :].split()[0])
    return None


async def vendor_onboarding(
    api: DemoApi, key: str, label: str, decision: str, application: dict[str, Any]
) -> DemoRun:
    body = {
        "application_id": f"DEMO-{key}",
        "contact_name": "Dana Demo",
        "contact_email": f"vendor-{key.lower()}@demo.example",
        "requested_by": "rory",
        **application,
    }
    started = await api.start("/v1/vendor-onboardings", body, label)
    workflow_id = started["workflow_id"]
    await api.decide("pat", workflow_id, decision, f"demo: {decision}")
    final = await api.until(workflow_id, lambda s: s.get("outcome") is not None, "the end")
    return DemoRun(
        label=label,
        workflow_id=workflow_id,
        outcome=final["outcome"],
        web_ui_url=started["web_ui_url"],
    )


async def invoice_with_approval(
    api: DemoApi, settings: Settings, crm: SandboxCrm, key: str
) -> DemoRun:
    label = "invoice above the finance threshold"
    account_id, deal_id = await asyncio.to_thread(crm.account_and_deal, "Globex Corporation")
    number = f"DEMO-INV-{key}"
    lines = [
        {
            "description": "Enterprise licence",
            "quantity": 1,
            "unit_price_cents": 1_500_000,
            "tax_rate_bp": 1900,
        }
    ]
    body = {
        "invoice_number": number,
        "crm_account_id": account_id,
        "crm_deal_id": deal_id,
        "lines": lines,
        "currency": "EUR",
        "payment_terms": "net30",
        "issue_date": _today(),
        "requested_by": "billing-service",
    }
    started = await api.start("/v1/invoices", body, label)
    workflow_id = started["workflow_id"]
    await api.decide("fiona", workflow_id, "approve", "demo: price list checked")
    await api.until(
        workflow_id, lambda s: s["stage"] == "awaiting_payment", "the invoice to be sent"
    )
    total = InvoiceRequest.model_validate(body).totals().total_cents
    await asyncio.to_thread(record_payment, settings, number, total, f"{number}-payment")
    final = await api.until(workflow_id, lambda s: s.get("outcome") is not None, "payment")
    return DemoRun(
        label=label,
        workflow_id=workflow_id,
        outcome=final["outcome"],
        web_ui_url=started["web_ui_url"],
    )


async def lead_to_cash(api: DemoApi, settings: Settings, key: str) -> DemoRun:
    label = "web-form lead all the way to cash"
    seats = 5
    domain = f"initech-{key.lower()}.example"
    body = {
        "lead_id": f"DEMO-LEAD-{key}",
        "email": f"cto@{domain}",
        "name": "Morgan Buyer",
        "company": "Initech",
        "domain": domain,
        "budget_cents": 5_000_000,
        "authority": True,
        "need": "high",
        "timeline": "now",
        "seats": seats,
        "currency": "EUR",
    }
    started = await api.start("/v1/leads", body, label)
    workflow_id = started["workflow_id"]
    status = await api.until(workflow_id, lambda s: _step_id(s, "deal ") is not None, "a deal")
    deal_id = _step_id(status, "deal ") or ""
    for stage in ("proposal", "closed_won"):
        await asyncio.to_thread(move_deal, settings, deal_id, stage)
    status = await api.until(
        workflow_id, lambda s: _step_id(s, "envelope ") is not None, "the contract"
    )
    await asyncio.to_thread(sign_envelope, settings, _step_id(status, "envelope ") or "")
    status = await api.until(
        workflow_id, lambda s: _step_id(s, "invoice workflow ") is not None, "the invoice"
    )
    invoice_workflow = _step_id(status, "invoice workflow ") or ""
    await api.until(
        invoice_workflow, lambda s: s["stage"] == "awaiting_payment", "the invoice to be sent"
    )
    number = invoice_number_of(invoice_workflow)
    net = seats * settings.price_per_seat_cents
    total = net + line_tax_cents(1, net, settings.sales_tax_rate_bp)
    await asyncio.to_thread(record_payment, settings, number, total, f"{number}-payment")
    final = await api.until(workflow_id, lambda s: s.get("outcome") is not None, "payment")
    return DemoRun(
        label=label,
        workflow_id=workflow_id,
        outcome=final["outcome"],
        web_ui_url=started["web_ui_url"],
    )


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def demo_key() -> str:
    return uuid.uuid4().hex[:6].upper()
