"""Start endpoints: one workflow per business key, whatever the number of requests.

The body is the same pydantic model the workflow starts from; it is validated before anything
starts. The same business key again starts nothing and answers 200 with the existing workflow.
"""

import logging
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Response

from domain.credentials import Scope
from domain.invoice import InvoiceRequest
from domain.lead import LeadForm
from domain.subscription import SubscriptionRequest
from domain.vendor import VendorApplication
from starters.api.auth import Caller
from starters.api.body import JsonBody
from starters.api.errors import error_responses
from starters.api.models import StartResponse
from starters.api.security import require
from starters.api.services import Services, services
from starters.start import (
    StartOutcome,
    start_invoice,
    start_lead_to_cash,
    start_subscription,
    start_vendor_onboarding,
)

log = logging.getLogger(__name__)

router = APIRouter(tags=["starts"])

RERUN = Annotated[
    bool,
    Query(
        description="Start the business key again if its last run failed, was cancelled, "
        "terminated or timed out (202, `rerun_of` names the run it replaces). A running or "
        "completed run is still handed back (200)."
    ),
]

START_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": StartResponse, "description": "Already started: the existing workflow."},
    202: {"description": "Started.", "headers": {"Location": {"schema": {"type": "string"}}}},
    **error_responses(
        400,
        401,
        403,
        409,
        413,
        415,
        422,
        503,
        s409="`RERUN_REFUSED`: the last run left work",
    ),
}


def _answer(response: Response, caller: Caller, outcome: StartOutcome) -> StartResponse:
    if outcome.already_existed:
        response.status_code = 200
    else:
        log.info("%s started %s", caller.id, outcome.workflow_id)
    response.headers["Location"] = f"/v1/workflows/{quote(outcome.workflow_id, safe='')}"
    return StartResponse(
        workflow_id=outcome.workflow_id,
        run_id=outcome.run_id,
        web_ui_url=outcome.web_ui_url,
        rerun_of=outcome.rerun_of,
    )


@router.post(
    "/v1/vendor-onboardings",
    status_code=202,
    response_model=StartResponse,
    summary="Start a vendor onboarding",
    description=(
        "Starts the `VendorOnboarding` workflow `vendor-onboarding-<application_id>`. "
        "Needs the scope `start`."
    ),
    responses=START_RESPONSES,
)
async def start_onboarding(
    response: Response,
    caller: Annotated[Caller, Depends(require(Scope.START))],
    application: Annotated[VendorApplication, Depends(JsonBody(VendorApplication))],
    built: Annotated[Services, Depends(services)],
    rerun: RERUN = False,
) -> StartResponse:
    outcome = await start_vendor_onboarding(
        built.temporal, built.settings, application, rerun=rerun
    )
    return _answer(response, caller, outcome)


@router.post(
    "/v1/invoices",
    status_code=202,
    response_model=StartResponse,
    summary="Start generating an invoice",
    description=(
        "Starts the `InvoiceGeneration` workflow `invoice-<invoice_number>`: billing customer, "
        "draft, finance approval at or above the threshold, sending, then payment with dunning. "
        "Needs the scope `start`."
    ),
    responses=START_RESPONSES,
)
async def start_invoice_generation(
    response: Response,
    caller: Annotated[Caller, Depends(require(Scope.START))],
    request: Annotated[InvoiceRequest, Depends(JsonBody(InvoiceRequest))],
    built: Annotated[Services, Depends(services)],
    rerun: RERUN = False,
) -> StartResponse:
    outcome = await start_invoice(built.temporal, built.settings, request, rerun=rerun)
    return _answer(response, caller, outcome)


@router.post(
    "/v1/leads",
    status_code=202,
    response_model=StartResponse,
    summary="Start lead-to-cash for a web-form lead",
    description=(
        "Starts the `LeadToCash` workflow `lead-to-cash-<lead_id>`: capture, enrich, qualify; "
        "then nurture, or a deal through contract, invoice and onboarding. "
        "Needs the scope `start`."
    ),
    responses=START_RESPONSES,
)
async def start_lead(
    response: Response,
    caller: Annotated[Caller, Depends(require(Scope.START))],
    form: Annotated[LeadForm, Depends(JsonBody(LeadForm))],
    built: Annotated[Services, Depends(services)],
    rerun: RERUN = False,
) -> StartResponse:
    outcome = await start_lead_to_cash(built.temporal, built.settings, form, rerun=rerun)
    return _answer(response, caller, outcome)


@router.post(
    "/v1/subscriptions",
    status_code=202,
    response_model=StartResponse,
    summary="Start a subscription",
    description=(
        "Starts the `Subscription` workflow `subscription-<subscription_id>`: each period from "
        "the anchor is billed by an `InvoiceGeneration` run of its own "
        "(`invoice-<subscription_id>-P<period>`). An anchor older than "
        "`BACKOFFICE_SUBSCRIPTION_MAX_ANCHOR_AGE` is refused (422, field `anchor`). "
        "Needs the scope `start`."
    ),
    responses=START_RESPONSES,
)
async def start_subscription_run(
    response: Response,
    caller: Annotated[Caller, Depends(require(Scope.START))],
    request: Annotated[SubscriptionRequest, Depends(JsonBody(SubscriptionRequest))],
    built: Annotated[Services, Depends(services)],
    rerun: RERUN = False,
) -> StartResponse:
    outcome = await start_subscription(built.temporal, built.settings, request, rerun=rerun)
    return _answer(response, caller, outcome)
