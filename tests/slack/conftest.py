"""The Slack side of the test stack: the sandbox's Slack Web API (with the bot token the
worker uses), and clicks signed with the signing secret, sent to the API as Slack sends them."""

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from devstack.stack import Stack
from devstack.vault_seed import read_secret
from domain.slack import SLACK_INTERACTIVITY_PATH
from starters.slack_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

PROCUREMENT_CHANNEL = "C0PROCUREMENT"


@dataclass
class SlackSide:
    """The sandbox's Slack workspace and the API's interactivity route."""

    web: httpx.Client  # the Web API, as the bot
    admin: httpx.Client  # the sandbox's admin API
    api: httpx.Client  # the backoffice API
    signing_secret: str

    def messages(self, channel: str, key: str) -> list[dict[str, Any]]:
        """The messages in a channel that show `key` (a business key), oldest first."""
        history = self.web.get("/conversations.history", params={"channel": channel}).json()
        assert history["ok"], history
        return [m for m in reversed(history["messages"]) if key in json.dumps(m)]

    def seen(self, user: str) -> dict[str, Any]:
        answer = self.admin.get("/_admin/slack/seen", params={"user": user})
        answer.raise_for_status()
        seen: dict[str, Any] = answer.json()
        return seen

    def trigger(self, user: str) -> str:
        answer = self.admin.post("/_admin/slack/triggers", json={"user": user})
        answer.raise_for_status()
        return str(answer.json()["trigger_id"])

    def send(
        self,
        payload: dict[str, Any],
        *,
        secret: str | None = None,
        at: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.send_raw(body, secret=secret, at=at, headers=headers)

    def send_raw(
        self,
        body: bytes,
        *,
        secret: str | None = None,
        at: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        timestamp = int(time.time()) if at is None else at
        signed = {
            SIGNATURE_HEADER: sign(body, secret or self.signing_secret, timestamp),
            TIMESTAMP_HEADER: str(timestamp),
            "Content-Type": "application/x-www-form-urlencoded",
            **(headers or {}),
        }
        return self.api.post(SLACK_INTERACTIVITY_PATH, content=body, headers=signed)


def click(user: str, action_id: str, button: dict[str, Any], channel: str) -> dict[str, Any]:
    """A block_actions payload as Slack sends it for a click on `button`."""
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower()},
        "api_app_id": "A0BACKOFFICE",
        "trigger_id": "",
        "channel": {"id": channel},
        "container": {"type": "message", "channel_id": channel},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "decision",
                "value": button["value"],
            }
        ],
    }


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The message's buttons by action id (none once the approval is closed)."""
    return {
        element["action_id"]: element
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }


@pytest.fixture
def slack(stack: Stack) -> Iterator[SlackSide]:
    vault = stack.vault_root()
    token = (read_secret(vault, "systems/slack") or {})["bot_token"]
    secret = (read_secret(vault, "webhooks/slack") or {})["secrets"][0]
    web = httpx.Client(
        base_url=f"{stack.sandbox_url}/slack",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
        trust_env=False,
    )
    api = httpx.Client(base_url=stack.api_url, timeout=30, trust_env=False)
    with web, api, stack.sandbox_admin() as admin:
        yield SlackSide(web=web, admin=admin, api=api, signing_secret=secret)
