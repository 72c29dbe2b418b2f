"""Approvals in Slack: what the gate asks the Slack activities to post and update, and the
Block Kit of an approval message (the inbox card's facts, Approve/Reject buttons)."""

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from domain.approvals import ApprovalRecord, ApprovalStatus, SlackMessageRef
from domain.money import format_amount

# The buttons' `action_id`s and the reject modal's `callback_id` (the interactivity route
# reads them back).
APPROVE_ACTION = "approval_approve"
REJECT_ACTION = "approval_reject"
REJECT_MODAL = "approval_reject_reason"
REASON_BLOCK = "reason"
REASON_INPUT = "reason_input"
# Where Vault keeps the signing secrets of Slack's interactivity requests (several in a
# rotation) under the secrets prefix, beside the other systems' webhook secrets.
SIGNING_SECRETS_PATH = "webhooks/slack"
# The API's route for Slack's interactivity requests (the Slack app's "Request URL").
SLACK_INTERACTIVITY_PATH = "/slack/interactivity"


class ApprovalCard(BaseModel):
    """What the inbox card shows of an approval, for the message."""

    workflow_id: str
    approval_id: str
    process: str
    business_key: str
    reason: str
    requested_by: str
    amount_cents: int | None = None
    currency: str | None = None
    counterparty: str | None = None
    due_at: datetime
    escalation_level: int = 0
    status: ApprovalStatus = ApprovalStatus.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None


class PostApprovalInput(BaseModel):
    """Post the approval to `role`: its channel, else a direct message to each approver."""

    kind: str  # request, reminder or escalation
    role: str
    card: ApprovalCard


class PostApprovalResult(BaseModel):
    messages: list[SlackMessageRef] = []


class UpdateApprovalInput(BaseModel):
    """Show the approval's outcome in every message posted for it, without buttons."""

    messages: list[SlackMessageRef]
    card: ApprovalCard


class UpdateApprovalResult(BaseModel):
    updated: int


class ButtonValue(BaseModel):
    """What an Approve/Reject button carries back: which approval of which run."""

    workflow_id: str
    approval_id: str


class SlackDecision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


def card_of(workflow_id: str, record: ApprovalRecord) -> ApprovalCard:
    request = record.request
    return ApprovalCard(
        workflow_id=workflow_id,
        approval_id=request.approval_id,
        process=request.process,
        business_key=request.business_key,
        reason=request.reason,
        requested_by=request.requested_by,
        amount_cents=request.amount_cents,
        currency=request.currency,
        counterparty=request.counterparty,
        due_at=record.due_at,
        escalation_level=record.escalation_level,
        status=record.status,
        decided_by=record.decided_by,
        decided_at=record.decided_at,
    )


def _amount(card: ApprovalCard) -> str:
    if card.amount_cents is None:
        return "-"
    return format_amount(card.amount_cents, card.currency or "")


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def summary_text(card: ApprovalCard, kind: str = "request") -> str:
    """The message's plain text (notifications, screen readers)."""
    head = {"reminder": "Reminder: approval", "escalation": "Escalated approval"}.get(
        kind, "Approval"
    )
    return f"{head} needed: {card.process} {card.business_key}"


def outcome_text(card: ApprovalCard) -> str:
    """The line that replaces the buttons once the approval is closed."""
    if card.status == ApprovalStatus.EXPIRED:
        return (
            f"Expired {_when(card.decided_at)} without a decision"
            if card.decided_at
            else ("Expired without a decision")
        )
    when = f" on {_when(card.decided_at)}" if card.decided_at else ""
    return f"{card.status.value.capitalize()} by {card.decided_by or '-'}{when}"


def blocks(card: ApprovalCard, kind: str, tag: str | None = None) -> list[dict[str, Any]]:
    """The message: the facts, then the buttons while pending, or the outcome once closed.
    `tag` is the first block's `block_id`: how a retried post finds the message it may have
    posted already (Slack has no idempotency key)."""
    fields = [
        ("Process", card.process),
        ("Business key", card.business_key),
        ("Amount", _amount(card)),
        ("Counterparty", card.counterparty or "-"),
        ("Requested by", card.requested_by),
        ("Due", _when(card.due_at)),
        ("Escalation level", str(card.escalation_level)),
    ]
    header: dict[str, Any] = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": f"*{_escape(summary_text(card, kind))}*"},
    }
    if tag:
        header["block_id"] = tag
    facts = {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{_escape(v)}"} for k, v in fields],
    }
    reason = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": f"*Reason*\n{_escape(card.reason)[:2900]}"},
    }
    out = [header, facts, reason]
    if card.status == ApprovalStatus.PENDING:
        value = ButtonValue(workflow_id=card.workflow_id, approval_id=card.approval_id)
        out.append(
            {
                "type": "actions",
                "block_id": "decision",
                "elements": [
                    _button("Approve", APPROVE_ACTION, value, "primary"),
                    _button("Reject", REJECT_ACTION, value, "danger"),
                ],
            }
        )
    else:
        out.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": _escape(outcome_text(card))}],
            }
        )
    return out


def reject_modal(value: ButtonValue, card_title: str) -> dict[str, Any]:
    """The modal Reject opens: it asks for the reason (required for a rejection)."""
    return {
        "type": "modal",
        "callback_id": REJECT_MODAL,
        "private_metadata": value.model_dump_json(),
        "title": {"type": "plain_text", "text": "Reject approval"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "section",
                "text": {"type": "plain_text", "text": card_title[:2900]},
            },
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_INPUT,
                    "multiline": True,
                    "min_length": 1,
                    "max_length": 2000,
                },
            },
        ],
    }


def _button(text: str, action: str, value: ButtonValue, style: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action,
        "style": style,
        "value": json.dumps({"w": value.workflow_id, "a": value.approval_id}),
    }


def button_value(raw: str) -> ButtonValue | None:
    """The approval a button names (None: not a value of ours)."""
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    workflow_id, approval_id = parsed.get("w"), parsed.get("a")
    if not (isinstance(workflow_id, str) and isinstance(approval_id, str)):
        return None
    if not (0 < len(workflow_id) <= 200 and 0 < len(approval_id) <= 200):
        return None
    return ButtonValue(workflow_id=workflow_id, approval_id=approval_id)


def _escape(text: str) -> str:
    """Slack's mrkdwn control characters, so text from outside cannot mention or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
