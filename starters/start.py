"""Starting a process: one workflow per business key, whatever the number of start requests."""

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.contract import (
    INVOICE_GENERATION,
    LEAD_TO_CASH,
    STAGE,
    SUBSCRIPTION,
    VENDOR_ONBOARDING,
    invoice_workflow_id,
    lead_to_cash_id,
    subscription_workflow_id,
    vendor_onboarding_id,
)
from domain.invoice import InvoiceGenerationInput, InvoiceRequest
from domain.lead import LeadForm, LeadToCashInput
from domain.reruns import RERUN_MEMO
from domain.status import LEFT_WORK_BEHIND
from domain.subscription import (
    RESERVED_INVOICE_PREFIX,
    SubscriptionInput,
    SubscriptionRequest,
    anchor_problem,
)
from domain.summaries import (
    RunDescription,
    invoice,
    lead_to_cash,
    subscription,
    vendor_onboarding,
)
from domain.systems import WORKFLOW_TASK_QUEUE
from domain.vendor import VendorApplication, VendorOnboardingInput
from runtime.settings import Settings


class StartOutcome(BaseModel):
    workflow_id: str
    run_id: str
    web_ui_url: str
    already_existed: bool
    # A re-run: the run this one replaces (it failed, was cancelled, terminated or timed out).
    rerun_of: str | None = None


# A business key whose run ended without success may be started again, on request (`rerun`).
ENDED_WITHOUT_SUCCESS = {
    WorkflowExecutionStatus.FAILED,
    WorkflowExecutionStatus.CANCELED,
    WorkflowExecutionStatus.TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT,
}


def web_ui_url(settings: Settings, namespace: str, workflow_id: str) -> str:
    base = settings.temporal_ui_url.rstrip("/")
    return f"{base}/namespaces/{quote(namespace)}/workflows/{quote(workflow_id, safe='')}"


async def start_vendor_onboarding(
    client: Client, settings: Settings, application: VendorApplication, *, rerun: bool = False
) -> StartOutcome:
    inp = VendorOnboardingInput(application=application, policy=settings.onboarding_policy())
    workflow_id = vendor_onboarding_id(application.application_id)
    return await _start(
        client, settings, VENDOR_ONBOARDING, inp, workflow_id, vendor_onboarding(inp), rerun
    )


async def start_invoice(
    client: Client, settings: Settings, request: InvoiceRequest, *, rerun: bool = False
) -> StartOutcome:
    inp = InvoiceGenerationInput(request=request, policy=settings.invoice_policy())
    workflow_id = invoice_workflow_id(request.invoice_number)

    def refuse() -> None:
        if request.invoice_number.startswith(RESERVED_INVOICE_PREFIX):
            raise StartRefused(
                "invoice_number",
                f"numbers starting {RESERVED_INVOICE_PREFIX} are subscription periods' invoices",
            )

    return await _start(
        client, settings, INVOICE_GENERATION, inp, workflow_id, invoice(inp), rerun, refuse
    )


async def start_lead_to_cash(
    client: Client, settings: Settings, form: LeadForm, *, rerun: bool = False
) -> StartOutcome:
    inp = LeadToCashInput(form=form, policy=settings.lead_policy())
    workflow_id = lead_to_cash_id(form.lead_id)
    return await _start(client, settings, LEAD_TO_CASH, inp, workflow_id, lead_to_cash(inp), rerun)


async def start_subscription(
    client: Client, settings: Settings, request: SubscriptionRequest, *, rerun: bool = False
) -> StartOutcome:
    inp = SubscriptionInput(request=request, policy=settings.subscription_policy())

    def refuse() -> None:
        problem = anchor_problem(request.anchor, datetime.now(UTC).date(), inp.policy)
        if problem is not None:
            raise StartRefused("anchor", problem)

    workflow_id = subscription_workflow_id(request.subscription_id)
    return await _start(
        client, settings, SUBSCRIPTION, inp, workflow_id, subscription(inp), rerun, refuse
    )


class StartRefused(ValueError):
    """A new run the rules refuse beyond its body's own checks (a start of an existing key
    still hands that run back): names the field and what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


async def _start(
    client: Client,
    settings: Settings,
    workflow: str,
    inp: BaseModel,
    workflow_id: str,
    description: RunDescription,
    rerun: bool = False,
    refuse: Callable[[], None] | None = None,
) -> StartOutcome:
    """Start, or hand back the run that already has this id (running or finished).

    With `rerun`, a key whose last run ended without success (failed, cancelled, terminated,
    timed out) gets a new run; a running or completed one is still handed back. `refuse`
    raises `StartRefused` for a new run the rules do not allow."""
    existing = await _existing_run(client, workflow_id)
    rerun_of, number = None, 0
    if existing is not None and rerun and existing.status in ENDED_WITHOUT_SUCCESS:
        number = await _rerun_number(existing)
        rerun_of, existing = existing.run_id, None
    if existing is None and refuse is not None:
        refuse()
    if existing is None:
        try:
            handle = await client.start_workflow(
                workflow,
                inp,
                id=workflow_id,
                task_queue=WORKFLOW_TASK_QUEUE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=(
                    WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY
                    if rerun_of
                    else WorkflowIDReusePolicy.REJECT_DUPLICATE
                ),
                static_summary=description.summary,
                static_details=description.details,
                memo={RERUN_MEMO: number} if number else None,
            )
            run_id = handle.result_run_id or ""
        except WorkflowAlreadyStartedError:
            existing = await _existing_run(client, workflow_id)
            rerun_of = None
    if existing is not None:
        run_id = existing.run_id
    return StartOutcome(
        workflow_id=workflow_id,
        run_id=run_id,
        web_ui_url=web_ui_url(settings, client.namespace, workflow_id),
        already_existed=existing is not None,
        rerun_of=rerun_of,
    )


class RerunRefused(Exception):
    """The key's last run left work that a fresh run would duplicate: it needs an operator."""


async def _rerun_number(ended: WorkflowExecutionDescription) -> int:
    """The number of the re-run after `ended`; refused where `ended` did not leave things
    clean (something failed past its point of no return, or a compensation failed)."""
    stage = str(ended.search_attributes.get(STAGE.name, [""])[0])
    if stage in LEFT_WORK_BEHIND:
        raise RerunRefused(
            f"{ended.id} ended at stage {stage}: what it did is not undone, and a new run would "
            "do it twice; repair that run instead (docs/operations.md)"
        )
    previous = await ended.memo_value(RERUN_MEMO, default=0, type_hint=int)
    return int(previous) + 1


async def _existing_run(client: Client, workflow_id: str) -> WorkflowExecutionDescription | None:
    try:
        return await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
