"""Request and response bodies of the API that are not domain models already."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.approvals import Decision, Resolution
from starters.api.errors import ErrorDetail
from starters.approvals import PendingApprovalView


class StartResponse(BaseModel):
    """Where the started (or already existing) workflow is."""

    workflow_id: str
    run_id: str
    web_ui_url: str
    rerun_of: str | None = None  # with `rerun=true`: the ended run this one replaces


class DecisionRequest(BaseModel):
    """An approver's decision; who decides is the authenticated caller, never the body."""

    model_config = ConfigDict(extra="forbid")

    decision: Decision | Resolution = Field(
        description="`approve` or `reject` an approval; `retry`, `skip` (the comment says what "
        "was done by hand) or `compensate` a run in the review queue (kind `attention`)."
    )
    comment: str = Field(default="", max_length=2000)


class DecisionResponse(BaseModel):
    accepted: Literal[True] = True
    status: str = Field(
        description="The approval's status now: `approved`, `rejected`, or `resolved` (an item "
        "of the review queue)."
    )


class PendingApprovals(BaseModel):
    approvals: list[PendingApprovalView]
    next_cursor: str | None = Field(
        default=None, description="Ask again with `cursor` set to this for the next page."
    )


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Check(BaseModel):
    ok: bool
    problem: str | None = None


class Readiness(BaseModel):
    """Each dependency's check; `error` says what is wrong when not all are ok."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, Check]
    error: ErrorDetail | None = None
