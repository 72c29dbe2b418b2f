"""Approve by link: the approval email's signed, expiring, single-use links. Opening one decides
nothing; confirming decides once, as the approver it was issued to; every other use is refused
and leaves the workflow as it was."""

import asyncio
import re
import secrets
import time

import hvac.exceptions
import pytest
from playwright.async_api import expect

from domain.approval_links import LinkClaims, link_url, sign
from domain.approvals import ApprovalStatus, Decision
from domain.contract import INVOICE_ID_PREFIX
from tests.devstack.vault_helpers import approle_client, read
from tests.helpers import Ledger, status, wait_for
from tests.inbox.conftest import AMOUNT, new_context

pytestmark = pytest.mark.timeout(300)


def _signing_key(stack) -> str:
    record = stack.vault_root().secrets.kv.v2.read_secret_version(
        path="backoffice/links/signing-key", mount_point="secret", raise_on_deleted_version=True
    )
    return str(record["data"]["data"]["keys"][0])


def _links(admin, number: str, to: str) -> dict[str, str]:
    """The approve and reject links of the approval request email to `to`."""
    [email] = [m for m in Ledger(admin).emails(number, "approval-request") if m["data"]["to"] == to]
    body = email["data"]["body"]
    links = {}
    for decision, label in (("approve", "Approve"), ("reject", "Reject")):
        found = re.search(rf"^{label}: (\S+)$", body, re.MULTILINE)
        assert found, f"no {label} link in the email to {to}"
        links[decision] = found.group(1)
    return links


def _own_link(stack, key: str, **claims) -> str:
    values = {
        "approver_id": "fiona",
        "decision": Decision.APPROVE,
        "expires_at": int(time.time()) + 3600,
        "nonce": secrets.token_hex(16),
        **claims,
    }
    return link_url(stack.api_url, sign(LinkClaims(**values), key))


def _one_char_changed(url: str) -> str:
    position = url.rindex("/") + 30  # inside the payload
    replacement = "A" if url[position] != "A" else "B"
    return url[:position] + replacement + url[position + 1 :]


async def _unchanged(handle) -> None:
    current = await status(handle)
    assert current.pending_approval is not None, "the approval was decided"
    assert not any(d.accepted for d in current.decisions)


async def test_a_link_decides_once_as_its_approver_and_nothing_else_decides(
    browser, stack, admin, invoices, web, screenshots
):
    handle = await invoices()
    number = handle.id.removeprefix(INVOICE_ID_PREFIX)
    links = await wait_for(
        lambda: _links_when_sent(admin, number), what="the approval request email to fiona"
    )
    assert links["approve"].startswith(f"{stack.api_url}/inbox/links/")
    assert links["approve"] != links["reject"]
    key = _signing_key(stack)

    # Opening the link (a plain GET, as a mail scanner would) decides nothing.
    for _ in range(2):
        opened = await web.get(links["approve"])
        assert opened.status_code == 200
        assert "Confirm: approve" in opened.text and number in opened.text
        assert opened.headers["referrer-policy"] == "no-referrer"
    await _unchanged(handle)

    refused = {
        "tampered": (_one_char_changed(links["approve"]), 400, "not valid"),
        "foreign key": (
            _own_link(
                stack,
                secrets.token_urlsafe(32),
                workflow_id=handle.id,
                approval_id="finance-review",
            ),
            400,
            "not valid",
        ),
        "expired": (
            _own_link(
                stack,
                key,
                workflow_id=handle.id,
                approval_id="finance-review",
                expires_at=int(time.time()) + 1,
            ),
            410,
            "expired",
        ),
        "another approval": (
            _own_link(stack, key, workflow_id=handle.id, approval_id="credit-check"),
            409,
            "UNKNOWN_APPROVAL",
        ),
        "another run": (
            _own_link(stack, key, workflow_id="invoice-NO-SUCH-RUN", approval_id="finance-review"),
            409,
            "WORKFLOW_NOT_FOUND",
        ),
        "not this approver's role": (
            _own_link(
                stack, key, workflow_id=handle.id, approval_id="finance-review", approver_id="pat"
            ),
            409,
            "WRONG_ROLE",
        ),
    }
    await asyncio.sleep(1.5)  # the short link has expired
    for what, (url, status_code, says) in refused.items():
        used = await web.post(url, data={"comment": "should not count"})
        assert (used.status_code, says in used.text) == (status_code, True), (what, used.text)
    await _unchanged(handle)

    # Confirming in a browser decides, as fiona (the link's approver), with the comment.
    context = await new_context(browser, stack)
    page = await context.new_page()
    await page.goto(links["approve"])
    heading = page.get_by_role("heading", name=re.compile(f"Approve invoice {number}"))
    await expect(heading).to_be_visible()
    await expect(page.locator("main")).to_contain_text(AMOUNT)
    await expect(page.locator("main")).to_contain_text("Fiona Finance (fiona)")
    await screenshots.capture(page, "approve-by-link.png", heading)
    await _unchanged(handle)
    await page.get_by_label("Comment").fill("approved from the email")
    await page.get_by_role("button", name="Confirm: approve").click()
    await expect(page.get_by_role("status")).to_contain_text("Approved")
    await context.close()

    current = await status(handle)
    [approval] = current.approvals
    assert approval.status == ApprovalStatus.APPROVED and approval.decided_by == "fiona"
    # The links the run itself refused are recorded as refused; only fiona's decided.
    accepted = [(d.approver, d.comment) for d in current.decisions if d.accepted]
    assert accepted == [("fiona", "approved from the email")]
    not_decided = [d for d in current.decisions if not d.accepted]
    assert not_decided and all(d.comment == "should not count" for d in not_decided)

    # Used once: a second use, and opening it again, say so; the other links change nothing.
    again = await web.post(links["approve"], data={})
    assert again.status_code == 410 and "already been used" in again.text
    assert "already been used" in (await web.get(links["approve"])).text
    olga = _links(admin, number, "olga@company.example")
    late = await web.post(olga["reject"], data={})
    assert late.status_code == 409 and "ALREADY_DECIDED" in late.text
    final = await status(handle)
    assert [d.accepted for d in final.decisions] == [d.accepted for d in current.decisions] + [
        False  # olga's, too late: recorded
    ]
    assert final.approvals[0].status == ApprovalStatus.APPROVED
    api_log = stack.api_log_path().read_text()
    assert "/inbox/links/<token>" in api_log
    assert all(url.rsplit("/", 1)[1] not in api_log for url in (*links.values(), *olga.values()))


async def _links_when_sent(admin, number: str) -> dict[str, str] | None:
    emails = Ledger(admin).emails(number, "approval-request")
    if not any(m["data"]["to"] == "fiona@company.example" for m in emails):
        return None
    return _links(admin, number, "fiona@company.example")


def test_both_approles_read_the_signing_key_and_nothing_else_under_links(stack):
    root = stack.vault_root()
    root.secrets.kv.v2.create_or_update_secret(
        path="backoffice/links/other", secret={"x": "y"}, mount_point="secret"
    )
    key = _signing_key(stack)
    for env in (stack.worker_env(), stack.client_env()):
        vault = approle_client(env)
        assert read(vault, "backoffice/links/signing-key")["keys"] == [key]
        with pytest.raises(hvac.exceptions.Forbidden):
            read(vault, "backoffice/links/other")
