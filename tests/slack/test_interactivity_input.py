"""Bad input at `POST /slack/interactivity`: never a 5xx, and nothing decided."""

import json
import secrets
import time

from domain.slack import APPROVE_ACTION
from tests.helpers import patient, start, status, wait_for
from tests.slack.conftest import PROCUREMENT_CHANNEL, SlackSide, click

CONTRACTOR = {"vendor_type": "contractor", "payment_terms": "net15"}


async def test_forged_stale_or_unsigned_clicks_are_401_and_decide_nothing(
    client, settings, slack: SlackSide
):
    handle = await start(client, patient(settings), **CONTRACTOR)
    pending = await wait_for(lambda: _pending(handle), timeout=60, what="the approval to open")
    button = {"value": json.dumps({"w": handle.id, "a": pending.request.approval_id})}
    payload = click("U0PAT", APPROVE_ACTION, button, PROCUREMENT_CHANNEL)
    wrong = slack.send(payload, secret=secrets.token_hex(16))
    stale = slack.send(payload, at=int(time.time()) - 301)
    unsigned = slack.api.post("/slack/interactivity", data={"payload": json.dumps(payload)})
    for answer, code in (
        (wrong, "SIGNATURE_INVALID"),
        (stale, "SIGNATURE_STALE"),
        (unsigned, "SIGNATURE_MISSING"),
    ):
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == code
    assert not (await status(handle)).decisions


async def _pending(handle):
    return (await status(handle)).pending_approval


def test_what_is_not_slacks_payload_is_400_and_other_types_are_ignored(slack: SlackSide):
    for body in (b"", b"payload=not-json", b"payload=%5B1%5D", b"other=1", b"\xff\xfe"):
        answer = slack.send_raw(body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"]["code"] == "INVALID_PAYLOAD"
    lacking = slack.send({"type": "block_actions", "user": {"id": "U0PAT"}})
    assert lacking.status_code == 400
    for ignored in (
        {"type": "shortcut", "user": {"id": "U0PAT"}},
        {"type": "view_closed", "user": {"id": "U0PAT"}},
        click("U0PAT", "some_other_button", {"value": "x"}, PROCUREMENT_CHANNEL),
        click("U0PAT", APPROVE_ACTION, {"value": "not ours"}, PROCUREMENT_CHANNEL),
        {"type": "view_submission", "user": {"id": "U0PAT"}, "view": {"callback_id": "other"}},
    ):
        answer = slack.send(ignored)
        assert answer.status_code == 200, (ignored, answer.text)


def test_a_click_on_a_run_that_does_not_exist_is_answered_not_failed(slack: SlackSide):
    button = {"value": json.dumps({"w": "vendor-onboarding-NOPE-1", "a": "risk-review"})}
    before = len(slack.seen("U0PAT")["ephemeral"])
    answer = slack.send(click("U0PAT", APPROVE_ACTION, button, PROCUREMENT_CHANNEL))
    assert answer.status_code == 200
    [told] = slack.seen("U0PAT")["ephemeral"][before:]
    assert "WORKFLOW_NOT_FOUND" in told["text"]
