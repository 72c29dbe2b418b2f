"""The review queue's rules as data: which decisions an item takes, and how a decision reads
from JSON (the API's body, the update's input). The workflow side is tests/test_review_queue.py."""

import pytest
from pydantic import ValidationError

from domain.approvals import (
    ApprovalKind,
    ApprovalRequest,
    DecideInput,
    Decision,
    Resolution,
)
from starters.api.models import DecisionRequest


def _request(**fields: object) -> ApprovalRequest:
    base: dict[str, object] = {
        "approval_id": "attention-1",
        "required_role": "operations",
        "escalation_role": "operations-lead",
        "requested_by": "lead_to_cash",
        "reason": "create the CRM account failed (REFUSED)",
        "process": "lead_to_cash",
        "business_key": "WEB-1",
    }
    return ApprovalRequest.model_validate(base | fields)


def test_an_approval_takes_approve_and_reject_only():
    approval = _request()
    assert approval.kind == ApprovalKind.APPROVAL
    assert approval.takes(Decision.APPROVE) and approval.takes(Decision.REJECT)
    assert not any(approval.takes(r) for r in Resolution)


def test_a_review_item_takes_its_actions_only():
    item = _request(kind="attention", actions=["retry", "compensate"])
    assert item.takes(Resolution.RETRY) and item.takes(Resolution.COMPENSATE)
    assert not item.takes(Resolution.SKIP)
    assert not item.takes(Decision.APPROVE) and not item.takes(Decision.REJECT)


@pytest.mark.parametrize("text", ["approve", "reject", "retry", "skip", "compensate"])
def test_a_decision_reads_as_its_own_kind(text: str):
    read = DecideInput.model_validate({"approval_id": "a", "decision": text, "approver": "omar"})
    assert read.decision.value == text
    assert isinstance(read.decision, Decision if text in ("approve", "reject") else Resolution)
    assert DecisionRequest.model_validate({"decision": text}).decision.value == text


@pytest.mark.parametrize("text", ["undo", "", "APPROVE", "retry "])
def test_an_unknown_decision_names_the_field(text: str):
    with pytest.raises(ValidationError) as refused:
        DecisionRequest.model_validate({"decision": text})
    assert refused.value.errors()[0]["loc"][0] == "decision"
