"""Approvals in Slack on the real stack: the message posted when an approval opens, clicks that
decide through the same rules as every door, and the message following the approval."""

import json
from typing import Any

from domain.approvals import Decision
from domain.contract import VENDOR_ONBOARDING_ID_PREFIX
from domain.slack import APPROVE_ACTION, REJECT_ACTION, REJECT_MODAL
from starters.approvals import decide
from starters.directory import Approver
from tests.helpers import audit_rows, failure_of, patient, result_of, start, status, wait_for
from tests.slack.conftest import PROCUREMENT_CHANNEL, SlackSide, buttons, click

CONTRACTOR = {"vendor_type": "contractor", "payment_terms": "net15"}
PAT, FIONA = "U0PAT", "U0FIONA"


def _key(workflow_id: str) -> str:
    """The business key the message shows (its buttons name the workflow id, until closed)."""
    return workflow_id.removeprefix(VENDOR_ONBOARDING_ID_PREFIX)


async def _opened(slack: SlackSide, workflow_id: str) -> dict[str, Any]:
    """The approval's message in procurement's channel, once posted."""
    found = await wait_for(
        lambda: slack.messages(PROCUREMENT_CHANNEL, _key(workflow_id)),
        timeout=60,
        what="the approval message in Slack",
    )
    message: dict[str, Any] = found[0]
    return message


async def _closed(slack: SlackSide, workflow_id: str, words: str) -> dict[str, Any]:
    """The message once it shows the outcome (no buttons)."""

    def updated() -> dict[str, Any] | None:
        message = slack.messages(PROCUREMENT_CHANNEL, _key(workflow_id))[0]
        return message if words in json.dumps(message) and not buttons(message) else None

    message: dict[str, Any] = await wait_for(updated, timeout=60, what=f"the message: {words}")
    return message


async def test_a_click_approves_and_the_message_shows_who_and_when(client, settings, slack):
    handle = await start(client, patient(settings), **CONTRACTOR)
    message = await _opened(slack, handle.id)
    text = json.dumps(message["blocks"])
    pending = (await status(handle)).pending_approval
    assert pending is not None
    approval_id = pending.request.approval_id
    for shown in ("VendorOnboarding", _key(handle.id), "rory"):
        assert shown in text
    approve = buttons(message)[APPROVE_ACTION]
    assert json.loads(approve["value"]) == {"w": handle.id, "a": approval_id}
    assert REJECT_ACTION in buttons(message)

    answer = slack.send(click(PAT, APPROVE_ACTION, approve, PROCUREMENT_CHANNEL))
    assert answer.status_code == 200, answer.text
    result = await result_of(handle)
    assert result.approval == "approved by pat"
    closed = await _closed(slack, handle.id, "Approved by pat on ")
    assert closed["ts"] == message["ts"]  # the same message, updated in place
    [decision] = (await status(handle)).decisions
    assert decision.accepted and decision.approver == "pat"


async def test_reject_asks_the_reason_in_a_modal(client, settings, slack):
    handle = await start(client, patient(settings), **CONTRACTOR)
    message = await _opened(slack, handle.id)
    payload = click(PAT, REJECT_ACTION, buttons(message)[REJECT_ACTION], PROCUREMENT_CHANNEL)
    payload["trigger_id"] = slack.trigger(PAT)
    assert slack.send(payload).status_code == 200
    assert not (await status(handle)).decisions  # nothing decided by the click itself
    [view] = [v for v in slack.seen(PAT)["views"] if handle.id in v["private_metadata"]]
    assert view["callback_id"] == REJECT_MODAL

    def submission(reason: str) -> dict[str, Any]:
        return {
            "type": "view_submission",
            "user": {"id": PAT},
            "view": {
                "id": view["id"],
                "callback_id": REJECT_MODAL,
                "private_metadata": view["private_metadata"],
                "state": {"values": {"reason": {"reason_input": {"value": reason}}}},
            },
        }

    empty = slack.send(submission("  "))
    assert empty.json()["response_action"] == "errors"
    assert "reason" in empty.json()["errors"]
    done = slack.send(submission("no signed contract on file"))
    assert done.json() == {"response_action": "clear"}
    await wait_for(lambda: _comment(handle), timeout=30, what="the rejection with its reason")
    await _closed(slack, handle.id, "Rejected by pat")


async def _comment(handle: Any) -> bool:
    decisions = (await status(handle)).decisions
    return any(d.comment == "no signed contract on file" and d.accepted for d in decisions)


async def test_refused_clicks_are_answered_to_the_clicker_alone(client, settings, slack):
    handle = await start(client, patient(settings), requested_by="pat", **CONTRACTOR)
    message = await _opened(slack, handle.id)
    approve = buttons(message)[APPROVE_ACTION]
    # Finance may not decide procurement's approval; pat requested it.
    for user, rule in ((FIONA, "WRONG_ROLE"), (PAT, "SELF_APPROVAL")):
        before = len(slack.seen(user)["ephemeral"])
        assert (
            slack.send(click(user, APPROVE_ACTION, approve, PROCUREMENT_CHANNEL)).status_code == 200
        )
        told = slack.seen(user)["ephemeral"][before:]
        assert len(told) == 1 and rule in told[0]["text"], told
    stranger = "U0STRANGER"
    users = slack.admin.get("/_admin/slack/users")
    slack.admin.put(
        "/_admin/slack/users",
        json={"users": [*users.json()["users"], {"id": stranger, "name": "stranger"}]},
    ).raise_for_status()
    assert (
        slack.send(click(stranger, APPROVE_ACTION, approve, PROCUREMENT_CHANNEL)).status_code == 200
    )
    [told] = slack.seen(stranger)["ephemeral"][-1:]
    assert "not in the approver directory" in told["text"]
    decisions = (await status(handle)).decisions
    assert [d.accepted for d in decisions] == [False, False]  # the stranger never reached it
    assert buttons(slack.messages(PROCUREMENT_CHANNEL, _key(handle.id))[0])  # still open


async def test_a_decision_in_the_inbox_updates_the_message(client, settings, slack):
    handle = await start(client, patient(settings), **CONTRACTOR)
    await _opened(slack, handle.id)
    olga = Approver(id="olga", name="Olga", email="olga@company.example", roles=["procurement"])
    outcome = await decide(client, olga, handle.id, Decision.APPROVE, "fine")
    assert outcome.accepted, outcome
    await _closed(slack, handle.id, "Approved by olga")


async def test_an_expiry_updates_every_message(client, settings, slack):
    # The stack's windows are seconds: reminder, escalation to procurement-lead (lena's DM).
    handle = await start(client, settings, **CONTRACTOR)
    await _opened(slack, handle.id)
    assert (await failure_of(handle)).type == "APPROVAL_EXPIRED"
    closed = await _closed(slack, handle.id, "Expired")
    assert not buttons(closed)
    posted = slack.messages(PROCUREMENT_CHANNEL, _key(handle.id))
    assert len(posted) == 2  # the request and the reminder
    [escalated] = slack.messages("D0LENA", _key(handle.id))
    assert "Expired" in escalated["text"] and not buttons(escalated)


async def test_slack_retrying_a_click_decides_once(client, settings, slack):
    handle = await start(client, patient(settings), **CONTRACTOR)
    message = await _opened(slack, handle.id)
    payload = click(PAT, APPROVE_ACTION, buttons(message)[APPROVE_ACTION], PROCUREMENT_CHANNEL)
    assert slack.send(payload).status_code == 200
    retried = slack.send(
        payload, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )
    assert retried.status_code == 200
    await result_of(handle)
    decisions = (await status(handle)).decisions
    assert [(d.approver, d.accepted) for d in decisions] == [("pat", True)]
    assert not slack.seen(PAT)["ephemeral"] or all(
        handle.id not in e["text"] for e in slack.seen(PAT)["ephemeral"]
    )


async def test_a_rate_limited_post_is_sent_after_retry_after(client, settings, slack, admin):
    rule = {"path": "/chat.postMessage", "status": 429, "retry_after": 2, "count": 1}
    admin.put("/_admin/faults/slack", json=rule).raise_for_status()
    handle = await start(client, patient(settings), **CONTRACTOR)
    await _opened(slack, handle.id)
    posts = [
        r
        for r in audit_rows(settings, handle.id)
        if r.system == "slack" and r.path == "/chat.postMessage"
    ]
    assert [r.status for r in posts] == [429, 200]
    assert len(slack.messages(PROCUREMENT_CHANNEL, _key(handle.id))) == 1
