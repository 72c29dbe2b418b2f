"""The approval inbox over HTTP: `GET /v1/approvals` lists what waits, `POST
/v1/approvals/{workflow_id}/{approval_id}` decides as the authenticated approver. The same code
path as the CLI (`starters.approvals`)."""

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from domain.approvals import RuleViolation
from domain.credentials import Scope
from starters.api.auth import Caller, CallerKind
from starters.api.body import JsonBody
from starters.api.errors import ApiError, FieldProblem, error_responses
from starters.api.models import DecisionRequest, DecisionResponse, PendingApprovals
from starters.api.security import require, require_approver
from starters.api.services import Services, services
from starters.api.workflows import WorkflowId
from starters.approvals import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    WORKFLOW_CLOSED,
    WORKFLOW_NOT_FOUND,
    InvalidCursor,
    approvals_page,
    decide,
)

log = logging.getLogger(__name__)

router = APIRouter(tags=["approvals"])

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"

# How each refusal of a decision is answered.
REFUSAL_STATUS = {
    RuleViolation.WRONG_ROLE.value: 403,
    RuleViolation.SELF_APPROVAL.value: 403,
    RuleViolation.UNKNOWN_APPROVAL.value: 404,
    WORKFLOW_NOT_FOUND: 404,
    RuleViolation.ALREADY_DECIDED.value: 409,
    WORKFLOW_CLOSED: 409,
    RuleViolation.DIRECTORY_UNAVAILABLE.value: 503,
    RuleViolation.WRONG_ACTION.value: 422,
    RuleViolation.REASON_REQUIRED.value: 422,
}


@router.get(
    "/v1/approvals",
    response_model=PendingApprovals,
    summary="Pending approvals",
    description="Pending approvals and runs in the review queue (`kind`: `approval` or "
    "`attention`), newest first, a page at a time: `page_size` of them (a page "
    "may hold fewer: runs decided since the listing are left out), and `next_cursor` to pass as "
    "`cursor` for the next page (none after the last). With `role`, only those that role may "
    "decide; without it, an approver sees those any of their roles may decide, a service client "
    "all. Needs the scope `read`.",
    responses=error_responses(401, 403, 422, 503),
)
async def list_approvals(
    caller: Annotated[Caller, Depends(require(Scope.READ))],
    built: Annotated[Services, Depends(services)],
    role: Annotated[str | None, Query(pattern=NAME_PATTERN, description="e.g. procurement")] = None,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None, Query(min_length=1, max_length=2048, pattern=r"^[A-Za-z0-9_=-]+$")
    ] = None,
) -> PendingApprovals:
    roles = None if role is None else [role]
    if role is None and caller.kind is CallerKind.APPROVER and caller.approver is not None:
        roles = caller.approver.roles
    try:
        page = await approvals_page(
            built.temporal, built.settings, roles, page_size=page_size, cursor=cursor
        )
    except InvalidCursor as exc:
        raise ApiError(
            422,
            "VALIDATION_ERROR",
            str(exc),
            fields=[FieldProblem(field="cursor", problem="not a cursor this list handed out")],
        ) from None
    return PendingApprovals(approvals=page.approvals, next_cursor=page.next_cursor)


@router.post(
    "/v1/approvals/{workflow_id}/{approval_id}",
    response_model=DecisionResponse,
    summary="Approve or reject; resolve a review-queue item",
    description=(
        "Decides a pending approval (approve, reject) or a run in the review queue (retry, "
        "skip, compensate; the operations role) as the authenticated approver (HTTP Basic; the "
        "body never names the approver). A refusal answers in the standard error shape with "
        "the rule it broke as `code`: 403 `WRONG_ROLE`, `SELF_APPROVAL`, `APPROVER_REQUIRED` (a "
        "service key), `INSUFFICIENT_SCOPE`; 404 `UNKNOWN_APPROVAL`, `WORKFLOW_NOT_FOUND`; 409 "
        "`ALREADY_DECIDED` (with `approval_status`: approved, rejected, expired or resolved), "
        "`WORKFLOW_CLOSED`; 422 `WRONG_ACTION` (a decision the item does not take), "
        "`REASON_REQUIRED` (a skip without a comment). Nothing changes on a refusal. A 503 "
        "`TEMPORAL_UNAVAILABLE` means Temporal did not confirm the decision in time: send the "
        "same decision again; it is recorded once."
    ),
    responses=error_responses(
        400,
        401,
        403,
        404,
        409,
        413,
        415,
        422,
        503,
        s403="`WRONG_ROLE`, `SELF_APPROVAL`, `APPROVER_REQUIRED` or `INSUFFICIENT_SCOPE`.",
        s404="`UNKNOWN_APPROVAL` or `WORKFLOW_NOT_FOUND`.",
        s409="`ALREADY_DECIDED` (see `approval_status`) or `WORKFLOW_CLOSED`.",
        s422="`WRONG_ACTION`, `REASON_REQUIRED`, or a body that is not a decision.",
    ),
)
async def decide_approval(
    workflow_id: WorkflowId,
    approval_id: Annotated[str, Path(pattern=NAME_PATTERN, description="e.g. risk-review")],
    caller: Annotated[Caller, Depends(require_approver)],
    body: Annotated[DecisionRequest, Depends(JsonBody(DecisionRequest))],
    built: Annotated[Services, Depends(services)],
) -> DecisionResponse:
    assert caller.approver is not None  # require_approver made sure
    outcome = await decide(
        built.temporal, caller.approver, workflow_id, body.decision, body.comment, approval_id
    )
    if outcome.accepted:
        log.info("%s decided %s on %s/%s", caller.id, body.decision, workflow_id, approval_id)
        return DecisionResponse(status=outcome.status or "")
    code = outcome.code or "REFUSED"
    raise ApiError(
        REFUSAL_STATUS.get(code, 409), code, outcome.reason, approval_status=outcome.status
    )
