"""Pure units of the Slack integration (start nothing): the request signature, how Slack's
answers are classified, and the approval message."""

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from activities.errors import body_error_code, classify_body_error, classify_status
from domain.approvals import ApprovalStatus
from domain.slack import (
    APPROVE_ACTION,
    REJECT_ACTION,
    ApprovalCard,
    blocks,
    button_value,
)
from runtime.settings import Settings
from starters.slack_signature import sign, verify
from starters.webhooks.signature import SignatureError

BODY = b"payload=%7B%22type%22%3A%22block_actions%22%7D"
NOW = 1_800_000_000


def test_a_signature_of_any_current_secret_passes() -> None:
    for secret in ("old-secret", "new-secret"):
        verify(
            sign(BODY, secret, NOW),
            str(NOW),
            BODY,
            ["new-secret", "old-secret"],
            tolerance_seconds=300,
            now=NOW + 10,
        )


@pytest.mark.parametrize(
    ("signature", "timestamp", "body", "now", "code"),
    [
        (None, str(NOW), BODY, NOW, "SIGNATURE_MISSING"),
        (sign(BODY, "s", NOW), None, BODY, NOW, "SIGNATURE_MISSING"),
        ("v1=abc", str(NOW), BODY, NOW, "SIGNATURE_MALFORMED"),
        (sign(BODY, "s", NOW), "soon", BODY, NOW, "SIGNATURE_MALFORMED"),
        (sign(BODY, "s", NOW), str(NOW), BODY, NOW + 301, "SIGNATURE_STALE"),
        (sign(BODY, "other", NOW), str(NOW), BODY, NOW, "SIGNATURE_INVALID"),
        (sign(BODY, "s", NOW), str(NOW), BODY + b"x", NOW, "SIGNATURE_INVALID"),
        # The timestamp is part of what is signed: moving it breaks the signature.
        (sign(BODY, "s", NOW), str(NOW + 1), BODY, NOW, "SIGNATURE_INVALID"),
    ],
)
def test_a_bad_signature_is_refused(signature, timestamp, body, now, code) -> None:
    with pytest.raises(SignatureError) as refused:
        verify(signature, timestamp, body, ["s"], tolerance_seconds=300, now=now)
    assert refused.value.code == code


def test_slack_refusals_in_a_200_are_classified() -> None:
    assert body_error_code(b'{"ok": true, "ts": "1.2"}') is None
    assert body_error_code(b'{"ok": false, "error": "channel_not_found"}') == "channel_not_found"
    permanent = classify_body_error("slack", "POST", "/chat.postMessage", "channel_not_found")
    assert permanent.non_retryable and permanent.type == "channel_not_found"
    passing = classify_body_error("slack", "POST", "/chat.postMessage", "ratelimited")
    assert not passing.non_retryable


def test_a_429_from_slack_retries_after_retry_after() -> None:
    response = httpx.Response(
        429, headers={"Retry-After": "7"}, json={"ok": False, "error": "ratelimited"}
    )
    error = classify_status("slack", "POST", "/chat.postMessage", response)
    assert not error.non_retryable
    assert error.next_retry_delay == timedelta(seconds=7)


def _card(**changes: object) -> ApprovalCard:
    card = ApprovalCard(
        workflow_id="vendor-onboarding-APP-1",
        approval_id="risk-review",
        process="VendorOnboarding",
        business_key="APP-1",
        reason="contractor <with> net15 & more",
        requested_by="rory",
        amount_cents=123456,
        currency="EUR",
        counterparty="Acme GmbH",
        due_at=datetime(2026, 12, 7, 9, 30, tzinfo=UTC),
    )
    return card.model_copy(update=changes)


def test_a_pending_message_shows_the_card_and_both_buttons() -> None:
    message = blocks(_card(), "request", tag="bo-tag")
    assert message[0]["block_id"] == "bo-tag"
    text = json.dumps(message)
    for shown in ("APP-1", "1,234.56 EUR", "Acme GmbH", "rory", "2026-12-07 09:30 UTC"):
        assert shown in text
    assert "&lt;with&gt; net15 &amp; more" in text  # no mentions or links from outside
    [actions] = [b for b in message if b["type"] == "actions"]
    ids = [e["action_id"] for e in actions["elements"]]
    assert ids == [APPROVE_ACTION, REJECT_ACTION]
    value = button_value(actions["elements"][0]["value"])
    assert value is not None and value.approval_id == "risk-review"


def test_a_closed_message_has_no_buttons_and_says_the_outcome() -> None:
    decided = _card(
        status=ApprovalStatus.APPROVED,
        decided_by="pat",
        decided_at=datetime(2026, 12, 7, 10, 0, tzinfo=UTC),
    )
    message = blocks(decided, "request")
    assert not [b for b in message if b["type"] == "actions"]
    assert "Approved by pat on 2026-12-07 10:00 UTC" in json.dumps(message)
    expired = blocks(_card(status=ApprovalStatus.EXPIRED), "request")
    assert "Expired" in json.dumps(expired)


@pytest.mark.parametrize("raw", ["", "[]", '{"w": 1, "a": "x"}', '{"w": "", "a": "x"}', "nope"])
def test_a_button_value_not_ours_is_refused(raw: str) -> None:
    assert button_value(raw) is None


def test_a_channel_setting_that_is_not_an_id_names_the_role() -> None:
    with pytest.raises(ValueError, match="procurement"):
        Settings(
            vault_addr="http://127.0.0.1:1",
            vault_role_id="r",
            vault_secret_id="s",
            slack_channels={"procurement": "#procurement"},
        )
