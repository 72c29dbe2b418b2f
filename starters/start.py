"""Starting a process: one workflow per business key, whatever the number of start requests."""

from urllib.parse import quote

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.invoice import InvoiceGenerationInput, InvoiceRequest
from domain.lead import LeadForm, LeadToCashInput
from domain.summaries import RunDescription, invoice, lead_to_cash, vendor_onboarding
from domain.systems import WORKFLOW_TASK_QUEUE
from domain.vendor import VendorApplication, VendorOnboardingInput
from runtime.settings import Settings


class StartOutcome(BaseModel):
    workflow_id: str
    run_id: str
    web_ui_url: str
    already_existed: bool


def web_ui_url(settings: Settings, namespace: str, workflow_id: str) -> str:
    base = settings.temporal_ui_url.rstrip("/")
    return f"{base}/namespaces/{quote(namespace)}/workflows/{quote(workflow_id, safe='')}"


def vendor_onboarding_id(application_id: str) -> str:
    return f"vendor-onboarding-{application_id}"


def invoice_workflow_id(invoice_number: str) -> str:
    return f"invoice-{invoice_number}"


def lead_to_cash_id(lead_id: str) -> str:
    return f"lead-to-cash-{lead_id}"


async def start_vendor_onboarding(
    client: Client, settings: Settings, application: VendorApplication
) -> StartOutcome:
    inp = VendorOnboardingInput(application=application, policy=settings.onboarding_policy())
    workflow_id = vendor_onboarding_id(application.application_id)
    return await _start(
        client, settings, "VendorOnboarding", inp, workflow_id, vendor_onboarding(inp)
    )


async def start_invoice(
    client: Client, settings: Settings, request: InvoiceRequest
) -> StartOutcome:
    inp = InvoiceGenerationInput(request=request, policy=settings.invoice_policy())
    workflow_id = invoice_workflow_id(request.invoice_number)
    return await _start(client, settings, "InvoiceGeneration", inp, workflow_id, invoice(inp))


async def start_lead_to_cash(client: Client, settings: Settings, form: LeadForm) -> StartOutcome:
    inp = LeadToCashInput(form=form, policy=settings.lead_policy())
    workflow_id = lead_to_cash_id(form.lead_id)
    return await _start(client, settings, "LeadToCash", inp, workflow_id, lead_to_cash(inp))


async def _start(
    client: Client,
    settings: Settings,
    workflow: str,
    inp: BaseModel,
    workflow_id: str,
    description: RunDescription,
) -> StartOutcome:
    """Start, or hand back the run that already has this id (running or finished)."""
    existing = await _existing_run(client, workflow_id)
    if existing is None:
        try:
            handle = await client.start_workflow(
                workflow,
                inp,
                id=workflow_id,
                task_queue=WORKFLOW_TASK_QUEUE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=description.summary,
                static_details=description.details,
            )
            run_id = handle.result_run_id or ""
        except WorkflowAlreadyStartedError:
            existing = await _existing_run(client, workflow_id)
    if existing is not None:
        run_id = existing
    return StartOutcome(
        workflow_id=workflow_id,
        run_id=run_id,
        web_ui_url=web_ui_url(settings, client.namespace, workflow_id),
        already_existed=existing is not None,
    )


async def _existing_run(client: Client, workflow_id: str) -> str | None:
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return description.run_id
