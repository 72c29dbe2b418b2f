"""Human approvals: what a workflow asks for, what an approver decides, and what gets recorded."""

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


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class RuleViolation(StrEnum):
    """Why a decision was refused; the `type` of the validator's ApplicationError."""

    UNKNOWN_APPROVAL = "UNKNOWN_APPROVAL"
    WRONG_ROLE = "WRONG_ROLE"
    SELF_APPROVAL = "SELF_APPROVAL"
    ALREADY_DECIDED = "ALREADY_DECIDED"
    DIRECTORY_UNAVAILABLE = "DIRECTORY_UNAVAILABLE"


class ApprovalTimeouts(BaseModel):
    """Durable timers of one approval, counted from the moment before each step."""

    remind_after: timedelta = Field(default=timedelta(days=1), gt=timedelta(0))
    escalate_after: timedelta = Field(default=timedelta(days=2), gt=timedelta(0))
    expire_after: timedelta = Field(default=timedelta(days=4), gt=timedelta(0))


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


class DecideInput(BaseModel):
    """Input of the update `decide`: the caller has already proven who the approver is."""

    approval_id: str
    decision: Decision
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
    decision: Decision
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


class ApprovalOutcome(BaseModel):
    """What the gate hands back to the workflow once the approval is closed."""

    approval_id: str
    status: ApprovalStatus
    decided_by: str | None = None
    comment: str = ""


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
