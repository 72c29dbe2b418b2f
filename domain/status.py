"""The answer of every workflow's `status` query."""

from pydantic import BaseModel

from domain.approvals import ApprovalRecord, DecisionRecord


class WorkflowStatus(BaseModel):
    process: str
    business_key: str
    stage: str
    steps_done: list[str] = []
    pending_approval: ApprovalRecord | None = None
    approvals: list[ApprovalRecord] = []
    decisions: list[DecisionRecord] = []
    compensations: list[str] = []
    outcome: str | None = None
    problem: str | None = None
    attention: str | None = None
