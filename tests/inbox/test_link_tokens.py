"""Approve-by-link tokens without a stack: signing, every way a link can be refused, and the
links an approval email carries (the same on a retried send)."""

import dataclasses
import re
import string
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from temporalio.testing import ActivityEnvironment

from activities.mail import ApprovalLinks, _approval_id
from domain.approval_links import (
    LinkClaims,
    LinkProblem,
    LinkRefused,
    digest,
    sign,
    signing_keys,
    verify,
)
from domain.approvals import Decision
from domain.records import NotifyRoleInput
from runtime.vault import SecretStore

KEY = "k" * 43
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ALPHABET = string.ascii_letters + string.digits + "-_"


def _claims(**overrides) -> LinkClaims:
    values = {
        "workflow_id": "invoice-INV-1",
        "approval_id": "finance-approval",
        "approver_id": "fiona",
        "decision": Decision.APPROVE,
        "expires_at": int((NOW + timedelta(hours=72)).timestamp()),
        "nonce": "0123456789abcdef0123456789abcdef",
    }
    values.update(overrides)
    return LinkClaims(**values)


def _refusal(token: str, keys: list[str], now: datetime = NOW) -> LinkProblem:
    with pytest.raises(LinkRefused) as refused:
        verify(token, keys, now)
    return refused.value.problem


def test_a_signed_link_verifies_to_its_claims():
    claims = _claims()
    token = sign(claims, KEY)
    assert verify(token, [KEY], NOW) == claims
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}", token)


def test_changing_any_one_character_breaks_the_link():
    token = sign(_claims(), KEY)
    for position, char in enumerate(token):
        replacement = next(c for c in ALPHABET if c != char)
        changed = token[:position] + replacement + token[position + 1 :]
        assert _refusal(changed, [KEY]) is LinkProblem.INVALID, position


def test_expired_foreign_and_malformed_links_are_refused():
    token = sign(_claims(), KEY)
    assert _refusal(token, [KEY], NOW + timedelta(hours=72)) is LinkProblem.EXPIRED
    assert _refusal(token, ["another-key-" * 4]) is LinkProblem.INVALID
    for bad in ("", "x", token + ".x", token.replace(".", ""), "é" * 60 + "." + "a" * 43):
        assert _refusal(bad, [KEY]) is LinkProblem.INVALID
    # The signature of one link on the payload of another.
    other = sign(_claims(approval_id="credit-check"), KEY)
    spliced = other.split(".")[0] + "." + token.split(".")[1]
    assert _refusal(spliced, [KEY]) is LinkProblem.INVALID


def test_a_tampered_expired_link_says_invalid_not_expired():
    token = sign(_claims(expires_at=int(NOW.timestamp()) - 1), KEY)
    assert _refusal(token, [KEY]) is LinkProblem.EXPIRED
    assert _refusal(token[:-1] + ("A" if token[-1] != "A" else "B"), [KEY]) is LinkProblem.INVALID


def test_a_rotated_key_still_verifies_links_signed_with_the_previous_one():
    old = sign(_claims(), KEY)
    assert verify(old, signing_keys({"keys": ["new-key-" * 5, KEY]}), NOW).approver_id == "fiona"
    with pytest.raises(ValueError, match="links/signing-key"):
        signing_keys({"keys": []})
    assert digest(old) != digest(sign(_claims(nonce="f" * 32), KEY))


def test_only_approval_emails_name_an_approval():
    def notify(notification: str, template: str) -> NotifyRoleInput:
        return NotifyRoleInput(
            notification=notification,
            role="finance",
            subject="s",
            body="b",
            template=template,
            business_key="INV-1",
        )

    assert _approval_id(notify("approval/finance-approval/reminder", "approval-reminder")) == (
        "finance-approval"
    )
    assert _approval_id(notify("overdue", "invoice-overdue")) is None
    assert _approval_id(notify("approval//request", "approval-request")) is None


async def test_an_approvers_links_are_the_same_on_a_retried_send_and_verify():
    links = ApprovalLinks(cast(SecretStore, None), "http://inbox.example/", timedelta(hours=72))
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id="invoice-INV-9", scheduled_time=NOW)

    def paragraph(approver: str) -> str:
        return links.paragraph(KEY, "finance-approval", approver, "approval/x/request", NOW)

    first = env.run(paragraph, "fiona")
    assert env.run(paragraph, "fiona") == first  # a retry sends the same body
    assert env.run(paragraph, "olga") != first
    approve = re.search(r"Approve: http://inbox\.example/inbox/links/(\S+)", first)
    reject = re.search(r"Reject: http://inbox\.example/inbox/links/(\S+)", first)
    assert approve and reject
    claims = verify(approve.group(1), [KEY], NOW)
    assert (claims.workflow_id, claims.approver_id, claims.decision) == (
        "invoice-INV-9",
        "fiona",
        Decision.APPROVE,
    )
    assert claims.expires == NOW + timedelta(hours=72)
    assert verify(reject.group(1), [KEY], NOW).decision is Decision.REJECT
    assert "2030-01-04 12:00 UTC" in first
