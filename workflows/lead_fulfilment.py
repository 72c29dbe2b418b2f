"""LeadToCash after the signature (the point of no return): the customer in the CRM and in
billing, the invoice as a child workflow, and, once it is paid, the customer's onboarding.

Nothing here is compensated: a failure is retried, and a permanent one waits in the review
queue (`workflows.review`) for operations to retry the step, skip it (done by hand) or end the
run.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ChildWorkflowCancellationType, ParentClosePolicy

from domain import contract, summaries
from domain.invoice import (
    InvoiceGenerationInput,
    InvoiceRequest,
    InvoiceResult,
    InvoiceSettled,
    LineItem,
)
from domain.lead import (
    Billing,
    Company,
    LeadForm,
    LeadPolicy,
    LeadToCashResult,
    lead_invoice_number,
    lead_subscription_id,
)
from domain.money import line_tax_cents
from domain.records import (
    CreateAccountInput,
    CreatePortalAccountInput,
    CrmAccountRef,
    EnsureCustomerInput,
    UpdateDealInput,
)
from domain.subscription import (
    BillingInterval,
    SubscriptionInput,
    SubscriptionPlan,
    SubscriptionRequest,
    period_invoice_number,
)
from domain.systems import System
from workflows import options
from workflows.invoice_generation import InvoiceGeneration
from workflows.lead_messages import Messages
from workflows.progress import Progress
from workflows.review import Resolve, attended
from workflows.subscription import Subscription

with workflow.unsafe.imports_passed_through():
    from activities.billing import BillingActivities
    from activities.crm import CrmActivities
    from activities.portal import PortalActivities


ResultT = TypeVar("ResultT")
CHILD_INVOICE_ABANDONED_ON_CANCEL = "lead-to-cash-child-invoice-abandoned-on-cancel"
RECURRING_DEALS_SUBSCRIBE = "lead-to-cash-recurring-deals-subscribe"


def invoice_number(lead_id: str) -> str:
    """Runs that started their invoice before this change keep the number they derived."""
    if workflow.patched("lead-invoice-number-without-collisions"):
        return lead_invoice_number(lead_id)
    return f"L2C-{lead_id.upper().replace('_', '-')}"[:40]


class Fulfilment:
    def __init__(
        self,
        form: LeadForm,
        policy: LeadPolicy,
        progress: Progress,
        result: LeadToCashResult,
        say: Messages,
        settled: Callable[[str], Awaitable[InvoiceSettled]],
        resolve: Resolve,
    ) -> None:
        self._settled = settled
        self._resolve = resolve
        self._form = form
        self._policy = policy
        self._progress = progress
        self._result = result
        self._say = say

    async def run(self, company: Company) -> str:
        """Customer, the child invoice, payment, onboarding; returns the outcome."""
        form, result, progress = self._form, self._result, self._progress
        progress.enter("creating_customer")
        account = await self._step(
            "create the CRM account",
            lambda: workflow.execute_activity_method(
                CrmActivities.create_account,
                CreateAccountInput(
                    name=company.name or form.company,
                    domain=form.domain,
                    billing_email=form.email,
                    billing_contact_name=form.name,
                ),
                **options.after_commit(System.CRM, self._policy.retries),
            ),
        )
        await self._update_deal(
            UpdateDealInput(deal_id=result.deal_id or "", account_id=account.id)
        )
        customer = await self._step(
            "create the billing customer",
            lambda: workflow.execute_activity_method(
                BillingActivities.find_or_create_customer,
                EnsureCustomerInput(
                    crm_account_id=account.id,
                    name=account.name,
                    email=form.email,
                    currency=form.currency,
                ),
                **options.after_commit(System.BILLING, self._policy.retries),
            ),
        )
        result.crm_account_id, result.billing_customer_id = account.id, customer.id
        progress.customer(customer.id)
        progress.enter("awaiting_payment")
        invoice = await self._invoice(account.id)
        result.invoice_id = invoice.invoice_id
        if invoice.status != "paid":
            return f"invoice_{invoice.status}"
        progress.enter("onboarding")
        welcome = await self._say.email(
            form.email,
            "customer-welcome",
            "customer-welcome",
            *self._say.welcome(),
            after_commit=True,
        )
        portal = await attended(
            self._resolve,
            "create the portal account",
            lambda: workflow.execute_activity_method(
                PortalActivities.create_account,
                CreatePortalAccountInput(
                    external_ref=form.lead_id,
                    vendor_id=customer.id,
                    display_name=account.name,
                    contact_email=form.email,
                ),
                **options.after_commit(System.PORTAL, self._policy.retries),
            ),
        )
        await attended(
            self._resolve,
            "mark the CRM account a customer",
            lambda: workflow.execute_activity_method(
                CrmActivities.mark_customer,
                CrmAccountRef(account_id=account.id),
                **options.after_commit(System.CRM, self._policy.retries),
            ),
        )
        await self._update_deal(
            UpdateDealInput(deal_id=result.deal_id or "", note="customer onboarded")
        )
        result.welcome_message_id = welcome
        result.portal_account_id = portal.id if portal else None
        return "won"

    async def _step(self, step: str, call: Callable[[], Awaitable[ResultT]]) -> ResultT:
        """A step whose result later steps need: retried or ended by operations, not skipped."""
        return cast(ResultT, await attended(self._resolve, step, call, skippable=False))

    async def _invoice(self, account_id: str) -> InvoiceResult:
        if self._form.billing != Billing.ONE_OFF and workflow.patched(RECURRING_DEALS_SUBSCRIBE):
            return await self._subscribe(account_id)
        form, policy = self._form, self._policy
        net = form.seats * policy.price_per_seat_cents
        discounted = net - line_tax_cents(net, 1, form.requested_discount_bp)
        request = InvoiceRequest(
            invoice_number=invoice_number(form.lead_id),
            crm_account_id=account_id,
            crm_deal_id=self._result.deal_id or "",
            lines=[
                LineItem(
                    description=f"{form.seats} seats, {form.requested_discount_bp / 100:.2f} % off",
                    quantity=1,
                    unit_price_cents=discounted,
                    tax_rate_bp=policy.tax_rate_bp,
                )
            ],
            currency=form.currency,
            payment_terms=policy.payment_terms,
            issue_date=workflow.now().date(),
            requested_by="lead-to-cash",
        )
        child_id = contract.invoice_workflow_id(request.invoice_number)
        self._result.invoice_workflow_id = child_id
        self._progress.done(f"invoice workflow {child_id}")
        child_input = InvoiceGenerationInput(request=request, policy=policy.invoice)
        description = summaries.invoice(child_input)
        cancellation = (
            ChildWorkflowCancellationType.ABANDON
            if workflow.patched(CHILD_INVOICE_ABANDONED_ON_CANCEL)
            else ChildWorkflowCancellationType.TRY_CANCEL
        )
        try:
            child = await workflow.start_child_workflow(
                InvoiceGeneration.run,
                child_input,
                id=child_id,
                static_summary=description.summary,
                static_details=description.details,
                # The invoice of a signed contract goes on if this run is cancelled (ABANDON,
                # also while it starts, and a shielded wait), and is never started twice.
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                cancellation_type=cancellation,
            )
        except WorkflowAlreadyStartedError:
            # This run was reset past the child's start (or the number was used before): the
            # invoice run exists, never a second one; follow it until it tells how it ended.
            self._progress.done(f"following the existing {child_id}")
            settled = await self._settled(child_id)
            if settled.result is None:
                raise ApplicationError(
                    f"invoice {child_id} ended {settled.failure_code}",
                    type=settled.failure_code,
                    non_retryable=True,
                ) from None
            return settled.result
        return await asyncio.shield(child)

    async def _subscribe(self, account_id: str) -> InvoiceResult:
        """A recurring deal: its subscription bills each period from today; the first period's
        invoice, once paid, stands for the deal's (the subscription tells this run)."""
        form, policy = self._form, self._policy
        sid = lead_subscription_id(form.lead_id)
        request = SubscriptionRequest(
            subscription_id=sid,
            crm_account_id=account_id,
            crm_deal_id=self._result.deal_id or "",
            plan=SubscriptionPlan(
                seats=form.seats,
                price_per_seat_cents=policy.price_per_seat_cents,
                discount_bp=form.requested_discount_bp,
                tax_rate_bp=policy.tax_rate_bp,
                currency=form.currency,
                interval=BillingInterval(form.billing.value),
            ),
            anchor=workflow.now().date(),
            payment_terms=policy.payment_terms,
            portal_account_ref=form.lead_id,  # the account onboarding creates
            requested_by="lead-to-cash",
        )
        child_id = contract.subscription_workflow_id(sid)
        first = contract.invoice_workflow_id(period_invoice_number(sid, 0))
        self._result.subscription_workflow_id = child_id
        self._result.invoice_workflow_id = first
        self._progress.done(f"subscription workflow {child_id}")
        child_input = SubscriptionInput(request=request, policy=policy.subscription)
        description = summaries.subscription(child_input)
        try:
            await workflow.start_child_workflow(
                Subscription.run,
                child_input,
                id=child_id,
                static_summary=description.summary,
                static_details=description.details,
                # The subscription of a signed contract runs for years, past this run's end.
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                cancellation_type=ChildWorkflowCancellationType.ABANDON,
            )
        except WorkflowAlreadyStartedError:
            self._progress.done(f"following the existing {child_id}")
        settled = await self._settled(first)
        if settled.result is None:
            raise ApplicationError(
                f"invoice {first} ended {settled.failure_code}",
                type=settled.failure_code,
                non_retryable=True,
            )
        return settled.result

    async def _update_deal(self, change: UpdateDealInput) -> None:
        await attended(
            self._resolve,
            "update the CRM deal",
            lambda: workflow.execute_activity_method(
                CrmActivities.update_deal,
                change,
                **options.after_commit(System.CRM, self._policy.retries),
            ),
        )
