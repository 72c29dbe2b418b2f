"""Slack activities: an approval's message to the role's channel or its approvers' direct
messages, and the message following the approval to its outcome.

Slack has no idempotency key. A retry after an ambiguous failure (the post may have gone
through, the answer was lost) must not post twice: each message's first block carries a tag
derived from the workflow id, the approval, the kind and the target (`block_id`), and a retry
first looks for that tag in the channel's recent history (`conversations.history`) and keeps the
message it finds. Targets already done are in the heartbeat, so a retry after a worker crash
goes on with the next; there is none after the last target (the result says it, and a heartbeat
could bring back a cancel of the run and turn the finished post into a cancelled one, the message
then unrecorded and never updated). A direct message is posted to a user id, whose DM channel id
is only learnt from the answer: there the heartbeat is the only guard, and a post whose answer is
lost can show twice; the duplicate's buttons then answer "already decided" once the approval
closes.
"""

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.http import idempotency_key
from activities.slack_api import SlackApi
from domain.approvals import APPROVER_DIRECTORY_PATH, SlackMessageRef
from domain.slack import (
    PostApprovalInput,
    PostApprovalResult,
    UpdateApprovalInput,
    UpdateApprovalResult,
    blocks,
    outcome_text,
    summary_text,
)
from runtime.vault import SecretStore

log = logging.getLogger(__name__)

# A message or channel that is gone (deleted by someone, bot removed): nothing left to update.
GONE = {"message_not_found", "channel_not_found", "cant_update_message", "is_archived"}


class SlackActivities:
    def __init__(self, api: SlackApi, secrets: SecretStore, channels: dict[str, str]) -> None:
        self._api = api
        self._secrets = secrets
        self._channels = channels

    @activity.defn(name="slack.post_approval")
    async def post_approval(self, inp: PostApprovalInput) -> PostApprovalResult:
        """Post to the role's channel (setting `BACKOFFICE_SLACK_CHANNELS`), else to each
        approver of the role who has a Slack user id in the directory."""
        targets = await self._targets(inp.role)
        done = _resumed(activity.info().heartbeat_details)
        for target in targets:
            if target in done:
                continue
            tag = _tag(f"slack/{inp.card.approval_id}/{inp.kind}/{target}")
            found = await self._already_posted(target, tag)
            message = found or await self._api.post_message(
                target, summary_text(inp.card, inp.kind), blocks(inp.card, inp.kind, tag)
            )
            done[target] = message
            if target != targets[-1]:
                activity.heartbeat({"posted": {t: m.model_dump() for t, m in done.items()}})
        return PostApprovalResult(messages=[done[t] for t in targets if t in done])

    @activity.defn(name="slack.update_approval")
    async def update_approval(self, inp: UpdateApprovalInput) -> UpdateApprovalResult:
        """Every message of the approval shows its outcome, without buttons."""
        updated = 0
        for message in inp.messages:
            try:
                await self._api.update_message(
                    message, outcome_text(inp.card), blocks(inp.card, "request")
                )
            except ApplicationError as exc:
                if exc.type not in GONE:
                    raise
                log.warning("slack message of approval not updated: %s", exc.type)
                continue
            updated += 1
        return UpdateApprovalResult(updated=updated)

    async def _targets(self, role: str) -> list[str]:
        channel = self._channels.get(role)
        if channel:
            return [channel]
        directory = await self._secrets.read(APPROVER_DIRECTORY_PATH)
        approvers: dict[str, Any] = directory.get("approvers", {})
        return [
            str(person["slack_user_id"])
            for _, person in sorted(approvers.items())
            if role in person.get("roles", []) and person.get("slack_user_id")
        ]

    async def _already_posted(self, target: str, tag: str) -> SlackMessageRef | None:
        """On a retry, the message an earlier attempt posted to a channel, if it did."""
        if activity.info().attempt == 1 or target.startswith("U"):
            return None
        for message in await self._api.recent_messages(target):
            if message.blocks and message.blocks[0].get("block_id") == tag:
                return SlackMessageRef(channel=target, ts=message.ts)
        return None


def _tag(step: str) -> str:
    """A block id from the idempotency key of the step (ours alone, at most 255 characters)."""
    return "bo-" + hashlib.sha256(idempotency_key(step).encode()).hexdigest()[:32]


def _resumed(details: Sequence[Any]) -> dict[str, SlackMessageRef]:
    if not details or not isinstance(details[0], dict):
        return {}
    posted = details[0].get("posted")
    if not isinstance(posted, dict):
        return {}
    return {str(t): SlackMessageRef.model_validate(m) for t, m in posted.items()}
