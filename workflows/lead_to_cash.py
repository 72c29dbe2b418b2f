"""LeadToCash: a web-form lead becomes a deal, a signed contract, a paid invoice and a customer.

Before the signature, a permanent failure or a rejected discount is compensated (envelope
voided, deal back to its previous stage with a note). The signature is the point of no return:
after it nothing is undone; a permanent failure is shown to operators (`attention_needed`).
The invoice runs as the child `InvoiceGeneration` with parent close policy ABANDON: a signed
contract's invoice goes on even when this run is cancelled or terminated.
"""

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import VersioningBehavior
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
)

from domain import contract
from domain.approvals import ApprovalRequest, ApprovalStatus
from domain.errors import ErrorCode
from domain.invoice import InvoiceSettled
from domain.lead import (
    Company,
    ContractSigned,
    DealStage,
    DealStageChanged,
    LeadForm,
    LeadPolicy,
    LeadToCashInput,
    LeadToCashResult,
    owner_for,
    qualify,
)
from domain.records import (
    AssignOwnerInput,
    CaptureLeadInput,
    CompanyRef,
    CreateDealInput,
    DealOwner,
    EnvelopeRef,
    RestoreDealStageInput,
    SendEnvelopeInput,
)
from domain.systems import System
from workflows import options, outcomes
from workflows.approvals import ApprovalsMixin, finishes_handlers
from workflows.lead_fulfilment import Fulfilment
from workflows.lead_messages import Messages
from workflows.outcomes import ApprovalNotGranted
from workflows.progress import Progress
from workflows.review import EndedByOperations
from workflows.saga import Compensation, Saga

with workflow.unsafe.imports_passed_through():
    from activities.crm import CrmActivities
    from activities.enrichment import EnrichmentActivities
    from activities.esign import EsignActivities

PROCESS = contract.LEAD_TO_CASH
DISCOUNT_APPROVAL_ID = "discount-review"
# The deal's owner is a function of the lead (was: round robin over the CRM's deal count, which
# changed the deal's body between a run and its reset).
OWNER_FROM_LEAD = "lead-to-cash-owner-from-lead"


# Auto-upgrade: a run lasts months, so it moves to each new version; every change that may
# meet a run in flight goes behind `workflow.patched` (docs/deploying.md).
@workflow.defn(name=PROCESS, versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class LeadToCash(ApprovalsMixin):
    @workflow.init
    def __init__(self, inp: LeadToCashInput) -> None:
        self._init_approvals(Progress(PROCESS, inp.form.lead_id))
        self._retries = inp.policy.retries
        self._stage_changes: list[DealStageChanged] = []
        self._signature: ContractSigned | None = None
        self._invoices_settled: dict[str, InvoiceSettled] = {}
        self._owner_reminders = 0
        self._result = LeadToCashResult(
            lead_id=inp.form.lead_id, outcome="running", crm_lead_id="", score=0
        )

    @workflow.signal(name=contract.DEAL_STAGE_CHANGED_SIGNAL)
    def deal_stage_changed(self, change: DealStageChanged) -> None:
        if self._result.deal_id is None or change.deal_id == self._result.deal_id:
            self._stage_changes.append(change)

    @workflow.signal(name=contract.CONTRACT_SIGNED_SIGNAL)
    def contract_signed(self, signed: ContractSigned) -> None:
        if self._result.envelope_id not in (None, signed.envelope_id):
            workflow.logger.warning("signature of another envelope ignored")
            return
        self._signature = signed

    @workflow.signal(name=contract.INVOICE_SETTLED_SIGNAL)
    def invoice_settled(self, settled: InvoiceSettled) -> None:
        self._invoices_settled[settled.invoice_workflow_id] = settled

    async def _invoice_settled(self, invoice_workflow_id: str) -> InvoiceSettled:
        await workflow.wait_condition(lambda: invoice_workflow_id in self._invoices_settled)
        return self._invoices_settled[invoice_workflow_id]

    @workflow.run
    @finishes_handlers
    async def run(self, inp: LeadToCashInput) -> LeadToCashResult:
        form, policy, progress = inp.form, inp.policy, self._progress
        self._say = Messages(form, policy)
        progress.begin()
        # Every step before the signature ends the same way on failure or cancel: the saga
        # undoes what it holds (nothing before the deal is won), and the run says why.
        saga = Saga(
            give_up_after=policy.retries.compensation, attempts=policy.compensation_attempts
        )
        try:
            ending, company = await self._to_signature(form, policy, saga)
        except (ActivityError, ApprovalNotGranted) as failure:
            raise await outcomes.undo(
                saga, progress, failure, self._review_queue(policy.attention)
            ) from None
        except asyncio.CancelledError:
            await outcomes.cancel(saga, progress, self._review_queue(policy.attention))
            raise
        if ending != "signed":
            return self._finish(ending)
        signed = self._signature.envelope_id if self._signature else ""
        progress.done(f"contract signed ({signed})")
        try:
            fulfilment = Fulfilment(
                form,
                policy,
                progress,
                self._result,
                self._say,
                self._invoice_settled,
                self._review_queue(policy.attention),
            )
            outcome = await fulfilment.run(company)
            return self._finish(outcome)
        except EndedByOperations as ended:
            # Nothing after the signature is undone (a signed contract stands): the run ends.
            progress.enter("ended_by_operations")
            progress.outcome = ErrorCode.ENDED_BY_OPERATIONS.value.lower()
            raise ApplicationError(
                f"lead-to-cash {progress.business_key} ended by operations at {ended}; "
                "undone: nothing (a signed contract stands)",
                type=ErrorCode.ENDED_BY_OPERATIONS.value,
                non_retryable=True,
            ) from None
        # After the signature: surfaced, never undone; the invoice (a child that a cancel of this
        # run abandons) goes on.
        except (ActivityError, ChildWorkflowError, ApplicationError) as exc:
            if outcomes.cancelled(exc):
                raise outcomes.cancelled_ending(progress) from None
            code = outcomes.failure_code(exc)
            if isinstance(exc, ChildWorkflowError):
                problem = f"invoice {self._result.invoice_workflow_id} failed ({code})"
            elif isinstance(exc, ApplicationError):  # the followed invoice run ended so
                problem = f"invoice {self._result.invoice_workflow_id} ended ({code})"
            else:
                problem = f"{progress.stage} failed ({code})"
            progress.needs_attention(problem)
            raise ApplicationError(problem, type=code, non_retryable=True) from None
        except asyncio.CancelledError:
            raise outcomes.cancelled_ending(progress) from None

    async def _to_signature(
        self, form: LeadForm, policy: LeadPolicy, saga: Saga
    ) -> tuple[str, Company]:
        """From the form to the signature: signed, nurtured, lost, stale or unsigned."""
        company = await self._capture_and_enrich(form)
        qualification = qualify(form, company, policy)
        self._result.score = qualification.score
        self._progress.done(f"score {qualification.score}: {', '.join(qualification.reasons)}")
        if not qualification.qualified:
            await self._nurture(form, policy)
            return "nurtured", company
        await self._open_deal(form, policy)
        return await self._sell(form, policy, saga), company

    async def _capture_and_enrich(self, form: LeadForm) -> Company:
        self._progress.enter("capturing")
        lead = await workflow.execute_activity_method(
            CrmActivities.capture_lead,
            CaptureLeadInput(
                email=form.email,
                name=form.name,
                company=form.company,
                domain=form.domain,
                source=form.source,
                form={
                    "lead_id": form.lead_id,
                    "seats": form.seats,
                    "timeline": form.timeline.value,
                },
            ),
            **options.before_commit(System.CRM, self._retries),
        )
        self._result.crm_lead_id = lead.id
        self._progress.done(f"lead {lead.id}" + (" (existing)" if lead.submissions > 1 else ""))
        self._progress.enter("enriching")
        try:
            # A rate-limited API slows the run down (429 + Retry-After), it does not fail it.
            company = await workflow.execute_activity_method(
                EnrichmentActivities.company,
                CompanyRef(domain=form.domain),
                **options.on(System.ENRICHMENT, give_up_after=timedelta(days=1)),
            )
        except ActivityError as exc:
            if outcomes.cancelled(exc):
                raise
            self._progress.done(f"enrichment unavailable ({outcomes.failure_code(exc)})")
            return Company(domain=form.domain)
        self._progress.done(f"enriched: {company.employees} employees, {company.industry}")
        return company

    async def _nurture(self, form: LeadForm, policy: LeadPolicy) -> None:
        self._progress.enter("nurturing")
        started = workflow.now()
        for n, offset in enumerate(sorted(policy.nurture_offsets), start=1):
            await workflow.sleep(max(timedelta(0), started + offset - workflow.now()))
            await self._say.email(form.email, f"nurture-{n}", "lead-nurture", *self._say.nurture(n))
        self._progress.done(f"{len(policy.nurture_offsets)} nurture emails sent")

    async def _open_deal(self, form: LeadForm, policy: LeadPolicy) -> None:
        self._progress.enter("opening_deal")
        if workflow.patched(OWNER_FROM_LEAD):
            owner = DealOwner(email=owner_for(form.lead_id, policy.sales_reps))
        else:
            owner = await workflow.execute_activity_method(
                CrmActivities.assign_owner,
                AssignOwnerInput(reps=policy.sales_reps),
                **options.before_commit(System.CRM, self._retries),
            )
        amount = form.seats * policy.price_per_seat_cents
        deal = await workflow.execute_activity_method(
            CrmActivities.create_deal,
            CreateDealInput(
                external_ref=form.lead_id,
                lead_id=self._result.crm_lead_id,
                name=f"{form.company}: {form.seats} seats",
                amount_cents=amount,
                currency=form.currency,
                owner=owner.email,
                discount_bp=form.requested_discount_bp,
            ),
            **options.before_commit(System.CRM, self._retries),
        )
        self._result.deal_id, self._result.owner = deal.id, owner.email
        self._progress.amount(amount)
        self._progress.done(f"deal {deal.id} for {owner.email}")
        await self._say.email(
            owner.email, "owner-assigned", "deal-assigned", *self._say.assigned(deal.id)
        )

    async def _sell(self, form: LeadForm, policy: LeadPolicy, saga: Saga) -> str:
        """From the open deal to a signature; returns signed, lost, stale or unsigned."""
        deal_id = self._result.deal_id or ""
        previous = DealStage.QUALIFICATION.value
        self._progress.enter("in_pipeline")
        while True:
            change = await self._next_stage_change(policy)
            if change is None:
                return "stale"
            if change.stage == DealStage.CLOSED_LOST:
                return "lost"
            if change.stage == DealStage.CLOSED_WON:
                break
            previous = change.stage.value
            self._progress.done(f"deal at {previous}")
        saga.register(
            Compensation(
                "deal back to its stage",
                CrmActivities.restore_deal_stage,
                RestoreDealStageInput(
                    deal_id=deal_id, stage=previous, note="reopened: the won deal was not completed"
                ),
                System.CRM.task_queue,
            )
        )
        await self._discount_approval(form, policy)
        saga.register(
            Compensation(
                "void envelope",
                EsignActivities.void_envelope,
                EnvelopeRef(external_ref=form.lead_id),
                System.ESIGN.task_queue,
            )
        )
        self._progress.enter("contract_sent")
        envelope = await workflow.execute_activity_method(
            EsignActivities.send_envelope,
            SendEnvelopeInput(
                external_ref=form.lead_id,
                document_name=f"Order form {form.lead_id}",
                document_text=self._say.contract(),
                signer_name=form.name,
                signer_email=form.email,
            ),
            **options.before_commit(System.ESIGN, self._retries),
        )
        self._result.envelope_id = envelope.id
        self._progress.done(f"envelope {envelope.id} sent")
        ending = await self._await_signature(form, policy)
        if ending == "lost":
            await self._void_envelope(form)
        elif ending == "unsigned":
            self._progress.compensations = await outcomes.compensate(
                saga, self._progress, self._review_queue(policy.attention)
            )
        return ending

    async def _next_stage_change(self, policy: LeadPolicy) -> DealStageChanged | None:
        """The next change of the deal's stage; None after `stale_after` of silence."""
        if await self._within(policy.owner_reminder_after, lambda: bool(self._stage_changes)):
            return self._stage_changes.pop(0)
        owner = self._result.owner or ""
        # One key per reminder: the same key every pass would send only the first.
        self._owner_reminders += 1
        n = self._owner_reminders
        notification = "owner-reminder" if n == 1 else f"owner-reminder-{n}"
        await self._say.email(owner, notification, "deal-reminder", *self._say.silent())
        rest = max(timedelta(0), policy.stale_after - policy.owner_reminder_after)
        if await self._within(rest, lambda: bool(self._stage_changes)):
            return self._stage_changes.pop(0)
        return None

    async def _discount_approval(self, form: LeadForm, policy: LeadPolicy) -> None:
        if form.requested_discount_bp <= policy.discount_limit_bp:
            return
        self._progress.enter("awaiting_approval")
        outcome = await self._await_approval(
            ApprovalRequest(
                approval_id=DISCOUNT_APPROVAL_ID,
                required_role=policy.approver_role,
                escalation_role=policy.escalation_role,
                requested_by=self._result.owner or "sales",
                reason=f"discount {form.requested_discount_bp / 100:.2f} % is above the "
                f"{policy.discount_limit_bp / 100:.2f} % policy limit",
                process=PROCESS,
                business_key=form.lead_id,
                amount_cents=form.seats * policy.price_per_seat_cents,
                currency=form.currency,
                counterparty=form.company,
                timeouts=policy.approval_timeouts,
            )
        )
        if outcome.status != ApprovalStatus.APPROVED:
            raise ApprovalNotGranted(outcome.status)
        self._progress.done(f"discount approved by {outcome.decided_by}")

    async def _await_signature(self, form: LeadForm, policy: LeadPolicy) -> str:
        def settled() -> bool:
            return self._signature is not None or self._lost()

        if not await self._within(policy.signature_reminder_after, settled):
            await self._say.email(
                form.email, "signature-reminder", "contract-reminder", *self._say.unsigned()
            )
            rest = max(timedelta(0), policy.signature_timeout - policy.signature_reminder_after)
            if not await self._within(rest, settled):
                return "unsigned"
        return "signed" if self._signature is not None else "lost"

    def _lost(self) -> bool:
        return any(c.stage == DealStage.CLOSED_LOST for c in self._stage_changes)

    async def _void_envelope(self, form: LeadForm) -> None:
        voided = await workflow.execute_activity_method(
            EsignActivities.void_envelope,
            EnvelopeRef(external_ref=form.lead_id),
            **options.before_commit(System.ESIGN, self._retries),
        )
        if voided.undone:
            self._progress.compensated(voided.description)

    async def _within(self, wait: timedelta, condition: Callable[[], bool]) -> bool:
        try:
            await workflow.wait_condition(condition, timeout=wait)
        except TimeoutError:
            return False
        return True

    def _finish(self, outcome: str) -> LeadToCashResult:
        self._progress.enter(outcome)
        self._progress.outcome = outcome
        self._result.outcome = outcome
        return self._result
