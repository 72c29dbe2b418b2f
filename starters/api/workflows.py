"""`GET /v1/workflows/{workflow_id}`: where a run stands (its `status` query)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from temporalio.client import WorkflowQueryFailedError

from domain.credentials import Scope
from domain.status import WorkflowStatus
from starters.api.auth import Caller
from starters.api.errors import ApiError, error_responses
from starters.api.security import require
from starters.api.services import Services, services
from starters.approvals import WorkflowNotFound, workflow_status

router = APIRouter(tags=["workflows"])

# Our ids are `<process>-<business key>`; schedules add a timestamp (with ':').
WORKFLOW_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,254}$"
WorkflowId = Annotated[
    str, Path(pattern=WORKFLOW_ID_PATTERN, description="e.g. vendor-onboarding-APP-1001")
]


@router.get(
    "/v1/workflows/{workflow_id}",
    response_model=WorkflowStatus,
    summary="Where a run stands",
    description="The workflow's `status` query: stage, steps done, approvals, decisions, "
    "compensations, outcome. Needs the scope `read`.",
    responses=error_responses(
        401,
        403,
        404,
        409,
        422,
        503,
        s404="`WORKFLOW_NOT_FOUND`: no workflow with this id.",
        s409="`STATUS_UNAVAILABLE`: the workflow does not answer the `status` query.",
    ),
)
async def get_workflow(
    workflow_id: WorkflowId,
    caller: Annotated[Caller, Depends(require(Scope.READ))],
    built: Annotated[Services, Depends(services)],
) -> WorkflowStatus:
    try:
        return await workflow_status(built.temporal, workflow_id)
    except WorkflowNotFound:
        raise ApiError(404, "WORKFLOW_NOT_FOUND", f"no workflow '{workflow_id}'") from None
    except WorkflowQueryFailedError as exc:
        raise ApiError(
            409, "STATUS_UNAVAILABLE", f"workflow '{workflow_id}' did not answer: {exc}"
        ) from None
