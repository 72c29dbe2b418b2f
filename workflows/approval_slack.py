"""The approval gate's Slack messages: one with each notice (request, reminder, escalation),
and all of them updated to the outcome once the approval closes, whichever door decided it.

A Slack outage never blocks or fails the approval: email and the other doors still work, so a
failed post or update is logged (by failure code) and the approval goes on.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from domain.approvals import ApprovalKind, ApprovalRecord
from domain.slack import PostApprovalInput, UpdateApprovalInput, card_of
from domain.systems import System
from workflows import options, outcomes

with workflow.unsafe.imports_passed_through():
    from activities.slack import SlackActivities

# Runs started before approvals went to Slack replay without these activities.
SLACK_APPROVALS = "approval-slack-messages"
# Long enough to ride out Slack's rate limits (Retry-After) and a short outage.
GIVE_UP_AFTER = timedelta(minutes=5)


async def post(record: ApprovalRecord, kind: str, role: str) -> None:
    """Post the approval to `role` in Slack; the messages are kept on the record. A review-queue
    item is not posted: it is decided in the inbox or the CLI."""
    if record.request.kind == ApprovalKind.ATTENTION or not workflow.patched(SLACK_APPROVALS):
        return
    card = card_of(workflow.info().workflow_id, record)
    try:
        result = await workflow.execute_activity_method(
            SlackActivities.post_approval,
            PostApprovalInput(kind=kind, role=role, card=card),
            **options.on(System.SLACK, give_up_after=GIVE_UP_AFTER),
        )
    except ActivityError as exc:
        if outcomes.cancelled(exc):
            raise
        workflow.logger.warning("approval %s Slack message failed: %s", kind, _code(exc))
        return
    record.slack_messages.extend(result.messages)


async def follow(record: ApprovalRecord) -> None:
    """Show the outcome (who decided and when, or expired) in every message, no buttons."""
    if not record.slack_messages or not workflow.patched(SLACK_APPROVALS):
        return
    try:
        await workflow.execute_activity_method(
            SlackActivities.update_approval,
            UpdateApprovalInput(
                messages=list(record.slack_messages),
                card=card_of(workflow.info().workflow_id, record),
            ),
            **options.on(System.SLACK, give_up_after=GIVE_UP_AFTER),
        )
    except ActivityError as exc:
        if outcomes.cancelled(exc):
            raise
        workflow.logger.warning("approval Slack messages not updated: %s", _code(exc))


def _code(exc: ActivityError) -> str:
    return outcomes.failure_code(exc)
