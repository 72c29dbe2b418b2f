"""The business runs of the workload, each driven end to end the way people and systems drive it,
and recorded with the outcome it must reach: vendors (with and without approval, rejected),
invoices (below and above the finance threshold), leads (won, nurtured), a subscription
(cancelled at its first period's end) and the reconciliation.
"""

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Self

from pydantic import BaseModel
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from chaos import forms
from chaos.driver import Driver, DriverGaveUp, RunEnded
from domain import contract
from domain.invoice import InvoiceRequest
from domain.money import line_tax_cents
from domain.subscription import (
    ChangeResult,
    LifecycleChange,
    SubscriptionPlan,
    period_invoice_number,
)
from starters.reconciliation import start_reconciliation
from starters.sandbox_actions import move_deal, record_payment, sign_envelope


class DecisionMade(BaseModel):
    approval_id: str
    approver: str
    decision: str
    accepted: bool
    api_calls: int


class RunRecord(BaseModel):
    """One business run: what it should end as, and what it did end as."""

    process: str
    variant: str
    workflow_id: str = ""
    run_id: str | None = None
    business_key: str = ""
    expected_status: str = "COMPLETED"
    expected_outcome: str = ""
    closed_status: str | None = None
    outcome: str | None = None
    problem: str | None = None
    decisions: list[DecisionMade] = []
    payment_ids: list[str] = []
    child_workflow_id: str | None = None
    driver_error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def as_expected(self) -> bool:
        return (
            self.driver_error is None
            and self.closed_status == self.expected_status
            and self.outcome == self.expected_outcome
        )


_RECONCILED = re.compile(r"^\d+ fixed, \d+ in sync, 0 unresolved$")


class Scenario:
    """One run of one process: `prepare` (before any fault), then `drive` (under the faults)."""

    process = ""
    variant = ""
    expected_status = "COMPLETED"
    expected_outcome = ""

    def __init__(self, **form_overrides: Any) -> None:
        self.overrides = form_overrides
        # Set by a plan that needs the run to wait (an approval pending, an invoice unpaid)
        # until it has done its part: the person acts only once the event is set.
        self.hold: asyncio.Event | None = None
        self.waiting = asyncio.Event()  # set when the run waits for its person
        self.record = RunRecord(
            process=self.process,
            variant=self.variant,
            expected_status=self.expected_status,
            expected_outcome=self.expected_outcome,
        )

    def expect(self, status: str, outcome: str) -> Self:
        """What a plan that fails this run on purpose expects instead."""
        self.record.expected_status, self.record.expected_outcome = status, outcome
        return self

    async def prepare(self, driver: Driver) -> None:
        """Set up what the run needs in the systems (done before faults are injected)."""

    async def drive(self, driver: Driver) -> None:
        raise NotImplementedError

    async def run(self, driver: Driver) -> RunRecord:
        """Drive the run to its end and record it; a driver that gives up is recorded too."""
        record = self.record
        record.started_at = datetime.now(UTC)
        try:
            await self.drive(driver)
        except RunEnded:
            pass  # it ended early: its outcome is checked against the expected one
        except DriverGaveUp as exc:
            record.driver_error = str(exc)
        try:
            await self._finish(driver, wait=record.driver_error is None)
        except DriverGaveUp as exc:  # a run that never ends: reported as stuck
            record.driver_error = record.driver_error or str(exc)
        record.finished_at = datetime.now(UTC)
        return record

    async def _finish(self, driver: Driver, *, wait: bool = True) -> None:
        record = self.record
        if wait:
            record.closed_status = await driver.patiently(
                f"{record.workflow_id} to end",
                lambda: driver.closed(record.workflow_id, record.run_id),
                limit=300,
            )
        else:
            record.closed_status = await driver.closed(record.workflow_id, record.run_id)
        status = await driver.patiently(
            f"{record.workflow_id} status",
            lambda: driver.status(record.workflow_id, record.run_id),
            limit=120 if wait else 20,
        )
        record.outcome = self.normalize(status.get("outcome"))
        record.problem = status.get("problem")

    def normalize(self, outcome: str | None) -> str | None:
        return outcome

    async def _held(self) -> None:
        self.waiting.set()
        if self.hold is not None:
            await self.hold.wait()

    async def pay_when_sent(self, driver: Driver, workflow_id: str, total: int) -> None:
        """The customer pays the whole invoice once it is sent (billing emits `invoice.paid`)."""
        await driver.until(
            workflow_id, lambda s: s["stage"] == "awaiting_payment", "the invoice to be sent"
        )
        await self._held()
        number = contract.invoice_number_of(workflow_id)
        payment_id = f"{number}-payment"
        settings = driver.settings
        await driver.act(
            f"pay {number}", lambda: record_payment(settings, number, total, payment_id)
        )
        self.record.payment_ids.append(payment_id)

    async def decide_when_pending(
        self, driver: Driver, approver: str, decision: str, limit: float = 240
    ) -> None:
        record = self.record
        status = await driver.until(
            record.workflow_id,
            lambda s: s.get("pending_approval") is not None,
            "an approval",
            limit,
        )
        approval_id = status["pending_approval"]["request"]["approval_id"]
        await self._held()
        accepted, calls = await driver.decide(approver, record.workflow_id, approval_id, decision)
        record.decisions.append(
            DecisionMade(
                approval_id=approval_id,
                approver=approver,
                decision=decision,
                accepted=accepted,
                api_calls=calls,
            )
        )


def _step_id(status: dict[str, Any], prefix: str) -> str | None:
    for step in status.get("steps_done", []):
        if step.startswith(prefix):
            return str(step[len(prefix) :].split()[0])
    return None


class VendorSupplier(Scenario):
    """A domestic supplier: no approval, onboarded."""

    process, variant = contract.VENDOR_ONBOARDING, "supplier"
    expected_outcome = "onboarded"
    decision: str | None = None

    async def drive(self, driver: Driver) -> None:
        key = forms.new_key()
        person = driver.personal(key)
        canary = (
            {
                "contact_name": person["name"],
                "contact_email": person["email"],
                "bank_account": {"iban": person["iban"], "bic": "DEUTDEFFXXX"},
            }
            if person
            else {}
        )
        body = forms.vendor_application(application_id=f"APP-{key}", **{**canary, **self.overrides})
        self.record.business_key = body["application_id"]
        self.record.workflow_id = await driver.start("/v1/vendor-onboardings", body)
        if self.decision:
            await self.decide_when_pending(driver, "pat", self.decision)


class VendorApproved(VendorSupplier):
    """A contractor: procurement approves, onboarded."""

    variant, decision = "contractor-approved", "approve"

    def __init__(self, **form_overrides: Any) -> None:
        super().__init__(
            **{"vendor_type": "contractor", "payment_terms": "net15", **form_overrides}
        )


class VendorRejected(VendorApproved):
    """A contractor procurement rejects: compensated (the cancellation email), failed."""

    variant, decision = "contractor-rejected", "reject"
    expected_status, expected_outcome = "FAILED", "approval_rejected"


class InvoiceSmall(Scenario):
    """Below the finance threshold: sent, paid through billing's webhook."""

    process, variant = contract.INVOICE_GENERATION, "below-threshold"
    expected_outcome = "paid"
    approval = False

    async def prepare(self, driver: Driver) -> None:
        self.account_id, self.deal_id = await driver.crm_account_and_deal()

    def body(self) -> dict[str, Any]:
        overrides = dict(self.overrides)
        if self.approval:
            overrides.setdefault(
                "lines",
                [
                    {
                        "description": "Enterprise licence",
                        "quantity": 1,
                        "unit_price_cents": 1_500_000,
                        "tax_rate_bp": 1900,
                    }
                ],
            )
        return forms.invoice_request(self.account_id, self.deal_id, **overrides)

    async def drive(self, driver: Driver) -> None:
        body = self.body()
        number = body["invoice_number"]
        self.record.business_key = number
        self.record.workflow_id = await driver.start("/v1/invoices", body)
        if self.approval:
            await self.decide_when_pending(driver, "fiona", "approve")
        total = InvoiceRequest.model_validate(body).totals().total_cents
        await self.pay_when_sent(driver, self.record.workflow_id, total)


class InvoiceLarge(InvoiceSmall):
    """At or above the threshold: finance approves, then sent and paid."""

    variant, approval = "above-threshold", True


def _canary_lead(driver: Driver) -> dict[str, str]:
    person = driver.personal(forms.new_key())
    return {"name": person["name"], "email": person["email"]} if person else {}


class LeadWon(Scenario):
    """Qualified lead: deal to proposal, then won, contract signed, child invoice paid: won."""

    process, variant = contract.LEAD_TO_CASH, "won"
    expected_outcome = "won"

    async def drive(self, driver: Driver) -> None:
        form = forms.lead_form(**{**_canary_lead(driver), **self.overrides})
        record, settings = self.record, driver.settings
        record.business_key = form["lead_id"]
        record.workflow_id = await driver.start("/v1/leads", form)
        status = await driver.until(
            record.workflow_id, lambda s: _step_id(s, "deal ") is not None, "a deal"
        )
        deal_id = _step_id(status, "deal ") or ""
        for stage in ("proposal", "closed_won"):
            await driver.act(
                f"move {deal_id} to {stage}",
                lambda stage=stage: move_deal(settings, deal_id, stage),  # type: ignore[misc]
            )
        status = await driver.until(
            record.workflow_id, lambda s: _step_id(s, "envelope ") is not None, "the contract"
        )
        envelope_id = _step_id(status, "envelope ") or ""
        await driver.act(f"sign {envelope_id}", lambda: sign_envelope(settings, envelope_id))
        status = await driver.until(
            record.workflow_id,
            lambda s: _step_id(s, "invoice workflow ") is not None,
            "the invoice",
        )
        child = _step_id(status, "invoice workflow ") or ""
        record.child_workflow_id = child
        net = int(form["seats"]) * settings.price_per_seat_cents
        total = net + line_tax_cents(1, net, settings.sales_tax_rate_bp)
        await self.pay_when_sent(driver, child, total)


class LeadNurtured(Scenario):
    """A lead that does not qualify: nurture emails, nurtured."""

    process, variant = contract.LEAD_TO_CASH, "nurtured"
    expected_outcome = "nurtured"

    async def drive(self, driver: Driver) -> None:
        form = forms.lead_form(**{**forms.NOT_QUALIFIED, **_canary_lead(driver), **self.overrides})
        self.record.business_key = form["lead_id"]
        self.record.workflow_id = await driver.start("/v1/leads", form)


class SubscriptionCancelled(Scenario):
    """A subscription: its first period billed, cancelled at the period's end by finance, the
    period paid; the run continues as new after billing and ends at the next boundary."""

    process, variant = contract.SUBSCRIPTION, "cancelled-at-period-end"
    expected_outcome = "cancelled"

    async def prepare(self, driver: Driver) -> None:
        self.account_id, self.deal_id = await driver.crm_account_and_deal()

    async def drive(self, driver: Driver) -> None:
        body = forms.subscription_request(self.account_id, self.deal_id, **self.overrides)
        sid = body["subscription_id"]
        self.record.business_key = sid
        self.record.workflow_id = await driver.start("/v1/subscriptions", body)
        first = contract.invoice_workflow_id(period_invoice_number(sid, 0))
        await driver.until(first, lambda s: s["stage"] == "awaiting_payment", "the first invoice")
        await driver.patiently("cancel at the period's end", self._cancel(driver))
        total = SubscriptionPlan.model_validate(body["plan"]).period_total_cents()
        await self.pay_when_sent(driver, first, total)

    def _cancel(self, driver: Driver) -> Callable[[], Awaitable[bool | None]]:
        handle = driver.client.get_workflow_handle(self.record.workflow_id)

        async def attempt() -> bool | None:
            try:
                await handle.execute_update(
                    contract.CANCEL_UPDATE,
                    LifecycleChange(by="fiona", reason="chaos"),
                    result_type=ChangeResult,
                )
            except WorkflowUpdateFailedError as exc:
                cause = exc.cause
                if isinstance(cause, ApplicationError) and cause.type == "ALREADY_CANCELLING":
                    return True  # an earlier attempt got there; its answer was lost
                raise DriverGaveUp(f"cancel refused: {cause}") from None
            return True

        return attempt

    def normalize(self, outcome: str | None) -> str | None:
        return "cancelled" if outcome and outcome.startswith("cancelled") else outcome


class ReconciliationToday(Scenario):
    """Today's invoices against the CRM, then the accounting export: reconciled."""

    process, variant = contract.RECONCILIATION, "today"
    expected_outcome = "reconciled"

    async def drive(self, driver: Driver) -> None:
        day = datetime.now(UTC).date()

        async def attempt() -> tuple[str, str] | None:
            started = await start_reconciliation(driver.client, driver.settings, day)
            return started.workflow_id, started.run_id

        self.record.workflow_id, self.record.run_id = await driver.patiently(
            "start the reconciliation", attempt
        )
        self.record.business_key = day.isoformat()

    def normalize(self, outcome: str | None) -> str | None:
        return "reconciled" if outcome and _RECONCILED.match(outcome) else outcome


# The mixed workload: every process, every path a person or system drives.
MIXED: tuple[Callable[[], Scenario], ...] = (
    VendorSupplier,
    VendorApproved,
    VendorRejected,
    InvoiceSmall,
    InvoiceLarge,
    LeadWon,
    LeadNurtured,
    SubscriptionCancelled,
)


def mixed(runs: int) -> list[Scenario]:
    """`runs` rounds of the mixed workload (the reconciliation runs once, after them)."""
    return [make() for _ in range(max(1, runs)) for make in MIXED]
