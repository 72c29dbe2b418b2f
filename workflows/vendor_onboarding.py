"""VendorOnboarding: validate, risk check (with procurement approval), then ERP, portal, mail, list.

A rejection, an expiry or a permanent failure after the first side effect undoes every completed
step in reverse; the run then fails with a message that lists what was undone.
"""

import asyncio

from temporalio import workflow
from temporalio.common import VersioningBehavior
from temporalio.exceptions import ActivityError, ApplicationError

from domain import contract
from domain.approvals import ApprovalRequest, ApprovalStatus
from domain.records import (
    AddApprovedSupplierInput,
    CreatePortalAccountInput,
    CreateVendorInput,
    PortalAccountRef,
    RemoveApprovedSupplierInput,
    SendEmailInput,
    ValidateVendorInput,
    VendorRef,
)
from domain.systems import System
from domain.vendor import (
    OnboardingPolicy,
    VendorApplication,
    VendorOnboardingInput,
    VendorOnboardingResult,
    VendorType,
)
from workflows import options, outcomes
from workflows.approvals import ApprovalsMixin, finishes_handlers
from workflows.outcomes import ApprovalNotGranted
from workflows.progress import Progress
from workflows.saga import Compensation, Saga

with workflow.unsafe.imports_passed_through():
    from activities.erp import ErpActivities
    from activities.mail import MailActivities
    from activities.portal import PortalActivities

PROCESS = contract.VENDOR_ONBOARDING
RISK_APPROVAL_ID = "risk-review"


# Pinned: a run lasts days at most (its approval window); it ends on the code that began it.
@workflow.defn(name=PROCESS, versioning_behavior=VersioningBehavior.PINNED)
class VendorOnboarding(ApprovalsMixin):
    @workflow.init
    def __init__(self, inp: VendorOnboardingInput) -> None:
        self._init_approvals(Progress(PROCESS, inp.application.application_id))
        self._retries = inp.policy.retries

    @workflow.run
    @finishes_handlers
    async def run(self, inp: VendorOnboardingInput) -> VendorOnboardingResult:
        app, policy, progress = inp.application, inp.policy, self._progress
        progress.begin()
        saga = Saga(
            give_up_after=policy.retries.compensation, attempts=policy.compensation_attempts
        )
        # The applicant hears of any ending but success: registered first, so it runs last.
        saga.register(
            Compensation(
                "cancellation email",
                MailActivities.send_compensation_email,
                _cancellation(app),
                System.MAIL.task_queue,
            )
        )
        try:
            await self._validate(app)
            approval = await self._risk_check(app, policy)
            saga.register(
                Compensation(
                    "deactivate vendor",
                    ErpActivities.deactivate_vendor,
                    VendorRef(external_ref=app.application_id),
                    System.ERP.task_queue,
                )
            )
            vendor_id = await self._create_vendor(app)
            saga.register(
                Compensation(
                    "delete portal account",
                    PortalActivities.delete_account,
                    PortalAccountRef(external_ref=app.application_id),
                    System.PORTAL.task_queue,
                )
            )
            account_id = await self._create_portal_account(app, vendor_id)
            message_id = await self._send_welcome(app, account_id)
            saga.register(
                Compensation(
                    "remove from supplier list",
                    ErpActivities.remove_approved_supplier,
                    RemoveApprovedSupplierInput(external_ref=app.application_id),
                    System.ERP.task_queue,
                )
            )
            entry_id = await self._add_to_supplier_list(vendor_id)
        except (ActivityError, ApprovalNotGranted) as failure:
            raise await outcomes.undo(
                saga, progress, failure, self._review_queue(policy.attention)
            ) from None
        except asyncio.CancelledError:
            await outcomes.cancel(saga, progress, self._review_queue(policy.attention))
            raise
        progress.enter("completed")
        progress.outcome = "onboarded"
        return VendorOnboardingResult(
            application_id=app.application_id,
            vendor_id=vendor_id,
            portal_account_id=account_id,
            welcome_message_id=message_id,
            supplier_list_entry_id=entry_id,
            approval=approval,
        )

    async def _validate(self, app: VendorApplication) -> None:
        """Duplicate tax id or terms not allowed for the type: fail fast, nothing created."""
        self._progress.enter("validating")
        try:
            await workflow.execute_activity_method(
                ErpActivities.validate_vendor,
                ValidateVendorInput(
                    tax_id=app.tax_id,
                    country=app.country,
                    vendor_type=app.vendor_type,
                    payment_terms=app.payment_terms,
                ),
                **options.before_commit(System.ERP, self._retries),
            )
        except ActivityError as exc:
            if outcomes.cancelled(exc):
                raise
            code = outcomes.failure_code(exc)
            self._progress.enter("rejected")
            self._progress.outcome = "invalid"
            self._progress.problem = code
            raise ApplicationError(
                f"vendor application {app.application_id} is invalid: {code}",
                type=code,
                non_retryable=True,
            ) from None
        self._progress.done("validated")

    async def _risk_check(self, app: VendorApplication, policy: OnboardingPolicy) -> str:
        """Contractors and vendors in high-risk countries need procurement's approval."""
        self._progress.enter("risk_check")
        reasons = []
        if app.vendor_type == VendorType.CONTRACTOR:
            reasons.append("vendor is a contractor")
        if app.country in policy.high_risk_countries:
            reasons.append(f"country {app.country} is on the high-risk list")
        if not reasons:
            self._progress.done("risk_check: no approval needed")
            return "not required"
        self._progress.enter("awaiting_approval")
        outcome = await self._await_approval(
            ApprovalRequest(
                approval_id=RISK_APPROVAL_ID,
                required_role=policy.approver_role,
                escalation_role=policy.escalation_role,
                requested_by=app.requested_by,
                reason="; ".join(reasons),
                process=PROCESS,
                business_key=app.application_id,
                counterparty=app.legal_name,
                timeouts=policy.approval_timeouts,
            )
        )
        if outcome.status != ApprovalStatus.APPROVED:
            raise ApprovalNotGranted(outcome.status)
        self._progress.done(f"risk_check: approved by {outcome.decided_by}")
        return f"approved by {outcome.decided_by}"

    async def _create_vendor(self, app: VendorApplication) -> str:
        self._progress.enter("creating_vendor")
        vendor = await workflow.execute_activity_method(
            ErpActivities.create_vendor,
            CreateVendorInput(
                external_ref=app.application_id,
                legal_name=app.legal_name,
                tax_id=app.tax_id,
                country=app.country,
                vendor_type=app.vendor_type,
                payment_terms=app.payment_terms,
                contact_email=app.contact_email,
                bank_account=app.bank_account,
            ),
            **options.before_commit(System.ERP, self._retries),
        )
        self._progress.done(f"vendor {vendor.id} created")
        return vendor.id

    async def _create_portal_account(self, app: VendorApplication, vendor_id: str) -> str:
        self._progress.enter("creating_portal_account")
        account = await workflow.execute_activity_method(
            PortalActivities.create_account,
            CreatePortalAccountInput(
                external_ref=app.application_id,
                vendor_id=vendor_id,
                display_name=app.legal_name,
                contact_email=app.contact_email,
            ),
            **options.before_commit(System.PORTAL, self._retries),
        )
        self._progress.done(f"portal account {account.id} created")
        return account.id

    async def _send_welcome(self, app: VendorApplication, account_id: str) -> str:
        self._progress.enter("sending_welcome")
        sent = await workflow.execute_activity_method(
            MailActivities.send_email,
            SendEmailInput(
                notification="welcome",
                to=app.contact_email,
                subject=f"Welcome aboard, {app.legal_name}",
                body=(
                    f"Dear {app.contact_name},\n\nyour vendor account is ready. Sign in to the "
                    f"supplier portal with account {account_id}.\n"
                ),
                template="vendor-welcome",
                business_key=app.application_id,
            ),
            **options.before_commit(System.MAIL, self._retries),
        )
        self._progress.done(f"welcome email {sent.id} sent")
        return sent.id

    async def _add_to_supplier_list(self, vendor_id: str) -> str:
        self._progress.enter("listing_supplier")
        entry = await workflow.execute_activity_method(
            ErpActivities.add_approved_supplier,
            AddApprovedSupplierInput(vendor_id=vendor_id),
            **options.before_commit(System.ERP, self._retries),
        )
        self._progress.done(f"supplier list entry {entry.id} added")
        return entry.id


def _cancellation(app: VendorApplication) -> SendEmailInput:
    return SendEmailInput(
        notification="cancellation",
        to=app.contact_email,
        subject=f"Your vendor application {app.application_id} was not completed",
        body=(
            f"Dear {app.contact_name},\n\nwe could not complete your vendor onboarding. Anything "
            "set up for it so far has been withdrawn. Please contact procurement.\n"
        ),
        template="vendor-cancellation",
        business_key=app.application_id,
    )
