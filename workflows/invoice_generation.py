"""InvoiceGeneration: customer, draft, finance approval, send, then wait for payment with dunning.

Before the invoice is sent a permanent failure voids the draft. Sending is the point of no
return: a later failure (the CRM update) is retried and, if it stays, shown to operators
(`Stage` = `attention_needed`) while the run keeps waiting for payment.
"""

import asyncio
from collections.abc import Awaitable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import VersioningBehavior
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

from domain import contract
from domain.approvals import ApprovalRequest, ApprovalStatus, RuleViolation
from domain.invoice import (
    InvoiceGenerationInput,
    InvoiceOverdue,
    InvoicePolicy,
    InvoiceRequest,
    InvoiceResult,
    InvoiceSettled,
    PaymentReceived,
    VoidInput,
    VoidResult,
)
from domain.money import format_amount
from domain.records import (
    BillingInvoice,
    BillingLine,
    CreateInvoiceInput,
    CrmAccount,
    CrmAccountRef,
    EnsureCustomerInput,
    InvoiceNumberRef,
    UpdateDealInput,
)
from domain.systems import System
from workflows import invoice_mail, options, outcomes
from workflows.approvals import DIRECTORY_UNAVAILABLE, ApprovalsMixin, finishes_handlers
from workflows.dunning import Collection
from workflows.outcomes import ApprovalNotGranted, Refused
from workflows.progress import Progress
from workflows.saga import Compensation, Saga, finish_despite_cancel

with workflow.unsafe.imports_passed_through():
    from activities.billing import BillingActivities
    from activities.crm import CrmActivities

PROCESS = contract.INVOICE_GENERATION
FINANCE_APPROVAL_ID = "finance-review"
# Patches (runs in flight keep their old path on replay; see tests/histories).
SEND_IS_POINT_OF_NO_RETURN = "invoice-send-is-point-of-no-return"
NOTIFICATIONS_NEVER_END_THE_RUN = "invoice-notifications-never-end-the-run"
TELLS_PARENT = "invoice-tells-parent"
TOTAL_MISMATCH_UNDONE = "invoice-total-mismatch-undone"
TELLS_SUBSCRIPTION_OVERDUE = "invoice-tells-subscription-overdue"


# Auto-upgrade: a run waits weeks for payment, so it moves to each new version; every change
# that may meet a run in flight goes behind `workflow.patched` (docs/deploying.md).
@workflow.defn(name=PROCESS, versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class InvoiceGeneration(ApprovalsMixin):
    @workflow.init
    def __init__(self, inp: InvoiceGenerationInput) -> None:
        self._init_approvals(Progress(PROCESS, inp.request.invoice_number))
        self._policy = inp.policy
        self._total = inp.request.totals().total_cents
        self._collection = Collection(self._total)
        self._sent = False
        self._voided = False

    @workflow.run
    @finishes_handlers
    async def run(self, inp: InvoiceGenerationInput) -> InvoiceResult:
        try:
            result = await self._invoice(inp)
        except (ApplicationError, asyncio.CancelledError) as ending:
            code = ending.type if isinstance(ending, ApplicationError) else "CANCELLED"
            await self._tell_parent(failure_code=code)
            raise
        await self._tell_parent(result=result)
        return result

    async def _tell_parent(
        self, result: InvoiceResult | None = None, failure_code: str | None = None
    ) -> None:
        info = workflow.info()
        if info.parent is None or not workflow.patched(TELLS_PARENT):
            return
        settled = InvoiceSettled(
            invoice_workflow_id=info.workflow_id, result=result, failure_code=failure_code
        )
        # By workflow id alone: a reset parent (a new run of the same id) hears it too.
        parent = workflow.get_external_workflow_handle(info.parent.workflow_id)
        try:
            await parent.signal(contract.INVOICE_SETTLED_SIGNAL, settled)
        except FailureError:  # the parent has ended (cancelled, say): nobody is waiting
            workflow.logger.info("parent %s has ended", info.parent.workflow_id)

    async def _invoice(self, inp: InvoiceGenerationInput) -> InvoiceResult:
        req, policy, progress = inp.request, inp.policy, self._progress
        progress.begin()
        progress.amount(self._total)
        saga = Saga(
            give_up_after=policy.retries.compensation, attempts=policy.compensation_attempts
        )
        try:
            account = await self._account(req)
            customer_id = await self._customer(req, account)
            saga.register(
                Compensation(
                    "void invoice",
                    BillingActivities.void_invoice,
                    InvoiceNumberRef(number=req.invoice_number),
                    System.BILLING.task_queue,
                )
            )
            invoice = await self._create_draft(req, customer_id)
            await self._finance_approval(req, policy, account)
            await self._finalize(req)
            due_at = await self._send(req, account, invoice)
        except (ActivityError, ApprovalNotGranted, Refused) as failure:
            raise await outcomes.undo(
                saga, progress, failure, self._review_queue(policy.attention)
            ) from None
        except asyncio.CancelledError:
            await outcomes.cancel(saga, progress, self._review_queue(policy.attention))
            raise
        # The invoice is out: from here on, nothing is undone, and a cancel just ends the run.
        try:
            if workflow.cancellation_reason() is not None:  # it came while the email went out
                raise asyncio.CancelledError("cancel requested during: sending")
            await self._record_on_deal(req, invoice.id, "open")
            reminders = await self._collection.collect(
                due_at,
                policy.dunning_offsets,
                lambda n: self._tell(
                    f"reminder {n}",
                    invoice_mail.remind(req, policy, account, n, self._collection.open_cents()),
                ),
                lambda: self._overdue(req, policy),
            )
            status = await self._close(req, invoice.id)
        except (ActivityError, asyncio.CancelledError) as failure:
            if isinstance(failure, ActivityError) and not outcomes.cancelled(failure):
                raise
            raise outcomes.cancelled_ending(progress) from None
        return InvoiceResult(
            invoice_number=req.invoice_number,
            invoice_id=invoice.id,
            customer_id=customer_id,
            status=status,
            total_cents=self._total,
            amount_paid_cents=self._collection.paid(),
            payments=list(self._collection.payments.values()),
            reminders_sent=reminders,
        )

    @workflow.signal(name=contract.PAYMENT_RECEIVED_SIGNAL)
    def payment_received(self, payment: PaymentReceived) -> None:
        """Each payment id counts once, however often billing's webhook repeats it."""
        if not self._collection.record(payment):
            return
        # Not `done()`: a signal handler is no step boundary for a cancel request.
        self._progress.steps_done.append(f"payment {payment.payment_id}: {payment.amount_cents}")
        if not self._collection.paid_in_full() and self._progress.stage == "awaiting_payment":
            self._progress.enter("partially_paid")

    @workflow.update(name=contract.VOID_UPDATE)
    async def void(self, inp: VoidInput) -> VoidResult:
        # The voider's roles are the directory's, never the ones the caller claims.
        entry = await self._directory(inp.approver, inp.approver_roles)
        if entry is None:
            raise ApplicationError(
                "the approver directory cannot be read right now; send it again",
                type=DIRECTORY_UNAVAILABLE,
            )
        self._refuse_void(entry.roles)  # again: the run may have moved meanwhile
        self._collection.void_request = inp
        await workflow.wait_condition(lambda: self._voided or self._ending)
        if not self._voided:  # a payment in full got there first, or the run ended otherwise
            if self._collection.paid_in_full():
                raise ApplicationError(
                    "the invoice was paid in full before it could be voided",
                    type="INVOICE_PAID",
                    non_retryable=True,
                )
            raise ApplicationError(
                f"the run ended ({self._progress.outcome}) before the invoice was voided",
                type="WORKFLOW_CLOSED",
                non_retryable=True,
            )
        return VoidResult(invoice_number=self._progress.business_key, status="void")

    @void.validator
    def _validate_void(self, inp: VoidInput) -> None:
        self._refuse_void(None)

    def _refuse_void(self, roles: list[str] | None) -> None:
        """Raises the refusal of a void now (`roles`: the voider's, once the directory said)."""
        refusal = None
        if roles is not None and self._policy.approver_role not in roles:
            refusal = (
                RuleViolation.WRONG_ROLE.value,
                f"voiding needs the {self._policy.approver_role} role",
            )
        elif self._collection.paid() > 0:
            refusal = ("INVOICE_PAID", "a paid (or partly paid) invoice cannot be voided")
        elif self._collection.void_request is not None:
            refusal = (RuleViolation.ALREADY_DECIDED.value, "the invoice is already voided")
        elif not self._sent:
            refusal = ("NOT_SENT", "the invoice is not sent yet; reject its approval instead")
        if refusal:
            raise ApplicationError(refusal[1], type=refusal[0], non_retryable=True)

    async def _account(self, req: InvoiceRequest) -> CrmAccount:
        self._progress.enter("finding_customer")
        return await workflow.execute_activity_method(
            CrmActivities.get_account,
            CrmAccountRef(account_id=req.crm_account_id),
            **options.before_commit(System.CRM, self._policy.retries),
        )

    async def _customer(self, req: InvoiceRequest, account: CrmAccount) -> str:
        customer = await workflow.execute_activity_method(
            BillingActivities.find_or_create_customer,
            EnsureCustomerInput(
                crm_account_id=req.crm_account_id,
                name=account.name,
                email=account.billing_email,
                currency=req.currency,
            ),
            **options.before_commit(System.BILLING, self._policy.retries),
        )
        self._progress.customer(customer.id)
        self._progress.done(f"billing customer {customer.id}")
        return customer.id

    async def _create_draft(self, req: InvoiceRequest, customer_id: str) -> BillingInvoice:
        self._progress.enter("creating_draft")
        invoice = await workflow.execute_activity_method(
            BillingActivities.create_invoice,
            CreateInvoiceInput(
                customer_id=customer_id,
                number=req.invoice_number,
                currency=req.currency,
                lines=[BillingLine(**line.model_dump()) for line in req.lines],
                payment_terms=req.payment_terms.value,
                due_date=req.due_date.isoformat(),
                metadata={"crm_deal_id": req.crm_deal_id},
            ),
            **options.before_commit(System.BILLING, self._policy.retries),
        )
        if invoice.total_cents != self._total:
            # Nobody may see an invoice whose total is not ours: the draft is deleted.
            mismatch = f"billing computed {invoice.total_cents}, we computed {self._total}"
            if workflow.patched(TOTAL_MISMATCH_UNDONE):
                raise Refused("TOTAL_MISMATCH", mismatch)
            raise ApplicationError(mismatch, type="TOTAL_MISMATCH", non_retryable=True)
        self._progress.done(f"draft invoice {invoice.id}")
        return invoice

    async def _finance_approval(
        self, req: InvoiceRequest, policy: InvoicePolicy, account: CrmAccount
    ) -> None:
        if self._total < policy.approval_threshold_cents:
            return
        self._progress.enter("awaiting_approval")
        total = format_amount(self._total, req.currency)
        threshold = format_amount(policy.approval_threshold_cents, req.currency)
        outcome = await self._await_approval(
            ApprovalRequest(
                approval_id=FINANCE_APPROVAL_ID,
                required_role=policy.approver_role,
                escalation_role=policy.escalation_role,
                requested_by=req.requested_by,
                reason=f"total {total} is at or above the approval threshold {threshold}",
                process=PROCESS,
                business_key=req.invoice_number,
                amount_cents=self._total,
                currency=req.currency,
                counterparty=account.name,
                timeouts=policy.approval_timeouts,
            )
        )
        if outcome.status != ApprovalStatus.APPROVED:
            raise ApprovalNotGranted(outcome.status)
        self._progress.done(f"approved by {outcome.decided_by}")

    async def _finalize(self, req: InvoiceRequest) -> None:
        self._progress.enter("sending")
        await workflow.execute_activity_method(
            BillingActivities.finalize_invoice,
            InvoiceNumberRef(number=req.invoice_number),
            **options.before_commit(System.BILLING, self._policy.retries),
        )
        # A cancel that came while finalizing (the call ends all the same) voids the invoice
        # before anyone is sent it.
        if (
            workflow.patched(SEND_IS_POINT_OF_NO_RETURN)
            and workflow.cancellation_reason() is not None
        ):
            raise asyncio.CancelledError("cancel requested during: finalizing")

    async def _send(
        self, req: InvoiceRequest, account: CrmAccount, invoice: BillingInvoice
    ) -> datetime:
        """The email to the customer: the point of no return. Once it is handed to the mail
        system, a cancel no longer stops it (nor voids the invoice the customer will read): the
        run finishes sending and then ends cancelled with the invoice open. A cancel before it
        voids the invoice, and no email goes out."""
        email = invoice_mail.send_invoice(req, account, self._total, self._policy.retries)
        if workflow.patched(SEND_IS_POINT_OF_NO_RETURN):
            await finish_despite_cancel(asyncio.ensure_future(email))
            self._sent = True
            self._progress.steps_done.append(f"invoice {invoice.id} sent")
        else:
            await email
            self._sent = True
            self._progress.done(f"invoice {invoice.id} sent")
        self._progress.enter("awaiting_payment")
        return workflow.now() + timedelta(days=req.payment_terms.days)

    async def _tell(self, what: str, message: Awaitable[None]) -> None:
        """A reminder or notice after sending: one that fails for good is shown to operators
        (`attention_needed`, the problem in `status`) and the run keeps waiting for payment."""
        try:
            await message
        except ActivityError as exc:
            if outcomes.cancelled(exc) or not workflow.patched(NOTIFICATIONS_NEVER_END_THE_RUN):
                raise
            self._progress.needs_attention(f"{what} not sent ({outcomes.failure_code(exc)})")

    async def _overdue(self, req: InvoiceRequest, policy: InvoicePolicy) -> None:
        """After the last reminder: overdue, and collections is told."""
        self._progress.enter("overdue")
        await self._tell_subscription_overdue()
        await self._tell(
            "overdue notice",
            invoice_mail.tell_collections(req, policy, self._collection.open_cents()),
        )

    async def _tell_subscription_overdue(self) -> None:
        """A period's invoice of a subscription tells it (the subscription goes past due)."""
        info = workflow.info()
        if info.parent is None or not info.parent.workflow_id.startswith(
            contract.SUBSCRIPTION_ID_PREFIX
        ):
            return
        if not workflow.patched(TELLS_SUBSCRIPTION_OVERDUE):
            return
        notice = InvoiceOverdue(
            invoice_workflow_id=info.workflow_id, open_cents=self._collection.open_cents()
        )
        parent = workflow.get_external_workflow_handle(info.parent.workflow_id)
        try:
            await parent.signal(contract.INVOICE_OVERDUE_SIGNAL, notice)
        except FailureError:  # the subscription has ended (cancelled): nobody is waiting
            workflow.logger.info("subscription %s has ended", info.parent.workflow_id)

    async def _close(self, req: InvoiceRequest, invoice_id: str) -> str:
        if self._collection.void_request is not None and not self._collection.paid_in_full():
            self._progress.enter("voiding")
            await workflow.execute_activity_method(
                BillingActivities.void_invoice,
                InvoiceNumberRef(number=req.invoice_number),
                **options.after_commit(System.BILLING, self._policy.retries),
            )
            status = "void"
            self._voided = True
        else:
            status = "paid"
        await self._record_on_deal(req, invoice_id, status)
        self._progress.enter(status)
        self._progress.outcome = status
        return status

    async def _record_on_deal(self, req: InvoiceRequest, invoice_id: str, status: str) -> None:
        try:
            await workflow.execute_activity_method(
                CrmActivities.update_deal,
                UpdateDealInput(
                    deal_id=req.crm_deal_id, invoice_id=invoice_id, invoice_status=status
                ),
                **options.after_commit(System.CRM, self._policy.retries),
            )
        except ActivityError as exc:
            if outcomes.cancelled(exc):
                raise
            self._progress.needs_attention(f"CRM deal not updated ({outcomes.failure_code(exc)})")
            return
        self._progress.needs_attention(None)
        self._progress.done(f"CRM deal {req.crm_deal_id}: invoice {status}")
