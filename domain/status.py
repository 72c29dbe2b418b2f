"""The answer of every workflow's `status` query."""

from pydantic import BaseModel

from domain.approvals import ApprovalRecord, DecisionRecord
from domain.subscription import SubscriptionView


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
    retrying: str | None = None  # a step that keeps failing and is being retried
    subscription: SubscriptionView | None = None  # Subscription only: how it stands


# Stages a run can end in with work that nothing undid: past its point of no return (a sent
# invoice, a signed contract's customer and invoice), or a step or compensation that failed for
# good. A fresh run of such a key would do that work twice, so it is not started (`rerun`).
LEFT_WORK_BEHIND = frozenset(
    {
        "awaiting_payment",
        "partially_paid",
        "overdue",
        "voiding",
        "creating_customer",
        "onboarding",
        "attention_needed",
        "compensation_failed",
        "ended_by_operations",
    }
)


class StepRetrying(BaseModel):
    """Signal `step_retrying`: the worker tells the run that a step keeps failing."""

    activity: str
    attempt: int
    error: str
