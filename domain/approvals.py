"""Human approvals: what a workflow asks for, what an approver decides, and what gets recorded.

The review queue is the same gate: a run that meets a failure no retry or compensation can
finish opens an item of kind `attention`, which people with the operations role resolve
(retry, skip, compensate) through the same update, rules, reminders and escalation."""

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field


class ApprovalStatus(StrEnum):
    """Values of the `ApprovalStatus` search attribute."""

    NONE = "none"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    RESOLVED = "resolved"  # a review-queue item, once operations decided it


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class Resolution(StrEnum):
    """What operations decide for a run in the review queue."""

    RETRY = "retry"  # the step again (after its data was fixed elsewhere)
    SKIP = "skip"  # done by hand: who and why are recorded
    COMPENSATE = "compensate"  # undo what can be undone and end the run


class ApprovalKind(StrEnum):
    APPROVAL = "approval"  # approve or reject
    ATTENTION = "attention"  # a review-queue item: one of its `actions`


Verdict = Decision | Resolution


class RuleViolation(StrEnum):
    """Why a decision was refused; the `type` of the validator's ApplicationError."""

    UNKNOWN_APPROVAL = "UNKNOWN_APPROVAL"
    WRONG_ROLE = "WRONG_ROLE"
    SELF_APPROVAL = "SELF_APPROVAL"
    ALREADY_DECIDED = "ALREADY_DECIDED"
    DIRECTORY_UNAVAILABLE = "DIRECTORY_UNAVAILABLE"
    WRONG_ACTION = "WRONG_ACTION"  # a decision this approval or review item does not take
    REASON_REQUIRED = "REASON_REQUIRED"  # a skip says why in its comment


class ApprovalTimeouts(BaseModel):
    """Durable timers of one approval, counted from the moment before each step."""

    remind_after: timedelta = Field(default=timedelta(days=1), gt=timedelta(0))
    escalate_after: timedelta = Field(default=timedelta(days=2), gt=timedelta(0))
    expire_after: timedelta = Field(default=timedelta(days=4), gt=timedelta(0))


class AttentionPolicy(BaseModel):
    """Who resolves a process's review-queue items, and their reminder and escalation (an item
    never expires: it waits until someone decides)."""

    role: str = "operations"
    escalation_role: str = "operations-lead"
    timeouts: ApprovalTimeouts = ApprovalTimeouts()


class ApprovalRequest(BaseModel):
    """What a workflow asks a human to decide."""

    approval_id: str
    required_role: str
    escalation_role: str
    requested_by: str
    reason: str
    process: str
    business_key: str
    amount_cents: int | None = None
    currency: str | None = None
    counterparty: str | None = None
    timeouts: ApprovalTimeouts = ApprovalTimeouts()
    kind: ApprovalKind = ApprovalKind.APPROVAL
    # A review-queue item: the step that failed, its error code, and the decisions it takes.
    step: str | None = None
    error_code: str | None = None
    actions: list[Resolution] = []

    def takes(self, verdict: Verdict) -> bool:
        if self.kind == ApprovalKind.ATTENTION:
            return verdict in self.actions
        return isinstance(verdict, Decision)


class DecideInput(BaseModel):
    """Input of the update `decide`: the caller has already proven who the approver is."""

    approval_id: str
    decision: Decision | Resolution
    approver: str = Field(min_length=1)
    approver_roles: list[str] = []
    comment: str = ""
    # Who sent it for the approver (`backoffice approve --as`: the operator's OS account and
    # host); None when the approver signed in and decided themselves.
    operator: str | None = None


class SignalDecisionInput(BaseModel):
    """Input of the signals `approve` and `reject` (operators using `temporal workflow signal`)."""

    approval_id: str
    approver: str = Field(min_length=1)
    approver_roles: list[str] = []
    comment: str = ""


class DecisionRecord(BaseModel):
    """Every decision that reached the workflow, accepted or not."""

    approval_id: str
    approver: str
    decision: Decision | Resolution
    comment: str = ""
    at: datetime
    channel: str
    accepted: bool
    refused_because: RuleViolation | None = None
    operator: str | None = None  # who sent it for the approver (DecideInput.operator)


class DecideResult(BaseModel):
    approval_id: str
    status: ApprovalStatus
    decided_by: str


class SlackMessageRef(BaseModel):
    """Where a message about an approval is in Slack: its channel and `ts` (Slack's id of a
    message), kept so the message can follow the approval (`chat.update`)."""

    channel: str
    ts: str


class ApprovalRecord(BaseModel):
    """One approval's state inside the workflow (and in the `status` query)."""

    request: ApprovalRequest
    status: ApprovalStatus = ApprovalStatus.PENDING
    allowed_roles: list[str]
    escalation_level: int = 0
    opened_at: datetime
    due_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str = ""
    slack_messages: list[SlackMessageRef] = []
    resolution: Resolution | None = None  # a review-queue item's decision


class ApprovalOutcome(BaseModel):
    """What the gate hands back to the workflow once the approval is closed."""

    approval_id: str
    status: ApprovalStatus
    decided_by: str | None = None
    comment: str = ""
    resolution: Resolution | None = None


# Where Vault keeps the approver directory (relative to the secrets prefix).
APPROVER_DIRECTORY_PATH = "directory/approvers"


class ApproverRef(BaseModel):
    approver_id: str


class DirectoryEntry(BaseModel):
    """What the directory says of an approver id: the roles and the email it holds (none for an
    id the directory does not know)."""

    approver_id: str
    known: bool
    email: str | None = None
    roles: list[str] = []
