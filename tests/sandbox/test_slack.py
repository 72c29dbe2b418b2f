"""The sandbox's Slack Web API: messages, updates, ephemeral answers, modals, users, history;
Slack's `ok: false` answers with HTTP 200; 429 with Retry-After; kept across a restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandbox.slack import issue_trigger
from tests.sandbox.conftest import (
    ADMIN_TOKEN,
    SLACK_TOKEN,
    SandboxProcess,
    client,
    seed_credentials,
)

USERS = {"users": [{"id": "U0PAT", "name": "pat", "real_name": "Pat Procurement"}]}
BLOCKS = [{"type": "section", "block_id": "bo-1", "text": {"type": "mrkdwn", "text": "*hi*"}}]


@pytest.fixture
def slack(sandbox: SandboxProcess, admin: httpx.Client) -> Iterator[httpx.Client]:
    admin.put("/_admin/slack/users", json=USERS).raise_for_status()
    headers = {"Authorization": f"Bearer {SLACK_TOKEN}"}
    with client(f"{sandbox.base_url}/slack", headers=headers) as slack_client:
        yield slack_client


def post(slack: httpx.Client, channel: str, text: str = "hello") -> dict[str, object]:
    answer = slack.post(
        "/chat.postMessage", data={"channel": channel, "text": text, "blocks": json.dumps(BLOCKS)}
    )
    assert answer.status_code == 200
    body: dict[str, object] = answer.json()
    assert body["ok"] is True, body
    return body


def test_a_message_is_posted_updated_and_listed(slack: httpx.Client) -> None:
    posted = post(slack, "C0FINANCE")
    assert posted["channel"] == "C0FINANCE" and isinstance(posted["ts"], str)
    updated = slack.post(
        "/chat.update",
        data={"channel": "C0FINANCE", "ts": posted["ts"], "text": "done", "blocks": "[]"},
    ).json()
    assert updated["ok"] is True and updated["text"] == "done"
    history = slack.get("/conversations.history", params={"channel": "C0FINANCE"}).json()
    [message] = history["messages"]
    assert message["ts"] == posted["ts"] and message["text"] == "done"
    assert message["blocks"] == [] and "edited" in message


def test_a_message_to_a_user_goes_to_their_direct_messages(slack: httpx.Client) -> None:
    posted = post(slack, "U0PAT")
    assert posted["channel"] == "D0PAT"
    # JSON bodies are taken too, as Slack does.
    answer = slack.post("/chat.postMessage", json={"channel": "U0NOBODY", "text": "x"}).json()
    assert answer == {"ok": False, "error": "channel_not_found"}


def test_ephemeral_answers_and_users(slack: httpx.Client) -> None:
    answer = slack.post(
        "/chat.postEphemeral", data={"channel": "D0PAT", "user": "U0PAT", "text": "no"}
    ).json()
    assert answer["ok"] is True and answer["message_ts"]
    assert slack.get("/users.info", params={"user": "U0PAT"}).json()["user"]["name"] == "pat"
    assert slack.get("/users.info", params={"user": "U0X"}).json() == {
        "ok": False,
        "error": "user_not_found",
    }


def test_a_modal_opens_once_per_trigger(slack: httpx.Client, sandbox: SandboxProcess) -> None:
    from sandbox.store import Store

    store = Store(sandbox.database_url)
    with store.transaction() as session:
        trigger = issue_trigger(session, "U0PAT")
    store.close()
    view = json.dumps({"type": "modal", "title": {"type": "plain_text", "text": "Reject"}})
    first = slack.get("/views.open", params={"trigger_id": trigger, "view": view}).json()
    assert first["ok"] is True and first["view"]["id"]
    again = slack.get("/views.open", params={"trigger_id": trigger, "view": view}).json()
    assert again == {"ok": False, "error": "invalid_trigger_id"}


def test_refusals_are_http_200_with_ok_false(slack: httpx.Client, sandbox: SandboxProcess) -> None:
    missing = slack.post("/chat.update", data={"channel": "C0FINANCE", "ts": "1.000009"})
    assert missing.status_code == 200
    assert missing.json() == {"ok": False, "error": "message_not_found"}
    assert slack.post("/chat.postMessage", data={"text": "x"}).json()["error"] == (
        "invalid_arguments"
    )
    with client(f"{sandbox.base_url}/slack") as anonymous:
        assert anonymous.post("/chat.postMessage", data={"channel": "C1"}).json() == {
            "ok": False,
            "error": "not_authed",
        }
        wrong = {"Authorization": "Bearer xoxb-wrong"}
        answer = anonymous.post("/chat.postMessage", data={"channel": "C1"}, headers=wrong)
        assert answer.json() == {"ok": False, "error": "invalid_auth"}
    assert slack.post("/no.such").json() == {"ok": False, "error": "unknown_method"}


def test_rate_limits_come_as_429_with_retry_after(slack: httpx.Client, admin: httpx.Client) -> None:
    rule = {"path": "/chat.postMessage", "status": 429, "retry_after": 3, "count": 1}
    admin.put("/_admin/faults/slack", json=rule).raise_for_status()
    limited = slack.post("/chat.postMessage", data={"channel": "C0FINANCE", "text": "x"})
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    assert (
        slack.get("/conversations.history", params={"channel": "C0FINANCE"}).json()["messages"]
        == []
    )
    post(slack, "C0FINANCE")  # the rule is spent


def test_messages_survive_a_restart(tmp_path: Path, fresh_database_url: str) -> None:
    process = SandboxProcess(fresh_database_url, tmp_path / "sandbox.log")
    process.start()
    try:
        with client(process.base_url, headers={"X-Admin-Token": ADMIN_TOKEN}) as admin:
            seed_credentials(admin)
            admin.put("/_admin/slack/users", json=USERS).raise_for_status()
        headers = {"Authorization": f"Bearer {SLACK_TOKEN}"}
        with client(f"{process.base_url}/slack", headers=headers) as slack:
            posted = post(slack, "U0PAT", "kept")
        process.stop()
        process.start()
        with client(f"{process.base_url}/slack", headers=headers) as slack:
            history = slack.get("/conversations.history", params={"channel": "D0PAT"}).json()
            assert [m["ts"] for m in history["messages"]] == [posted["ts"]]
            assert slack.get("/users.info", params={"user": "U0PAT"}).json()["ok"] is True
    finally:
        process.stop()
