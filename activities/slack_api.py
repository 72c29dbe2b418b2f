"""Slack's Web API on the one HTTP path (`SystemClient`: bot token from Vault, the classifier,
an audit row per attempt, a span per call).

The requests are what Slack's published OpenAPI document describes (specs/slack/): form bodies
with `blocks` and `view` as JSON strings; `views.open`, `users.info` and `conversations.history`
as GET with query parameters. `slack_sdk` is not used: its client does its own HTTP, retries
and rate-limit handling, which would step around this path.
"""

import json
from typing import Any

from pydantic import BaseModel

from activities.http import SystemClient
from domain.approvals import SlackMessageRef


class Posted(BaseModel):
    ok: bool
    channel: str
    ts: str


class Ok(BaseModel):
    ok: bool


class HistoryMessage(BaseModel):
    ts: str
    blocks: list[dict[str, Any]] = []


class History(BaseModel):
    ok: bool
    messages: list[HistoryMessage] = []


class SlackUserInfo(BaseModel):
    id: str
    name: str = ""


class UserInfo(BaseModel):
    ok: bool
    user: SlackUserInfo


class SlackApi:
    """One method per Web API method the approvals use."""

    def __init__(self, client: SystemClient) -> None:
        self._client = client

    async def post_message(
        self, channel: str, text: str, blocks: list[dict[str, Any]]
    ) -> SlackMessageRef:
        posted = await self._client.call(
            "POST",
            "/chat.postMessage",
            Posted,
            form={"channel": channel, "text": text, "blocks": json.dumps(blocks)},
        )
        return SlackMessageRef(channel=posted.channel, ts=posted.ts)

    async def update_message(
        self, message: SlackMessageRef, text: str, blocks: list[dict[str, Any]]
    ) -> None:
        await self._client.call(
            "POST",
            "/chat.update",
            Ok,
            form={
                "channel": message.channel,
                "ts": message.ts,
                "text": text,
                "blocks": json.dumps(blocks),
            },
        )

    async def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        await self._client.call(
            "POST",
            "/chat.postEphemeral",
            Ok,
            form={"channel": channel, "user": user, "text": text},
        )

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        await self._client.call(
            "GET",
            "/views.open",
            Ok,
            params={"trigger_id": trigger_id, "view": json.dumps(view)},
        )

    async def user_info(self, user: str) -> SlackUserInfo:
        return (await self._client.call("GET", "/users.info", UserInfo, params={"user": user})).user

    async def recent_messages(self, channel: str, limit: int = 100) -> list[HistoryMessage]:
        history = await self._client.call(
            "GET",
            "/conversations.history",
            History,
            params={"channel": channel, "limit": str(limit)},
        )
        return history.messages
