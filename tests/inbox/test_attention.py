"""The review queue in the inbox, in Chromium: a run whose compensation keeps failing is listed
under "Needs attention" for the operations role (nobody else sees it), with the step, its code
and what was done; a skip without a reason is refused and changes nothing; a skip with one is
recorded, and the run ends with the compensation marked done by hand."""

import pytest
from playwright.async_api import expect

from domain.approvals import ApprovalKind, ApprovalStatus
from tests.helpers import failure_of, status, vendor_whose_compensation_fails, wait_for
from tests.inbox.conftest import new_context, sign_in

pytestmark = pytest.mark.timeout(300)


async def _in_review(handle) -> bool:
    pending = (await status(handle)).pending_approval
    return pending is not None and pending.request.kind == ApprovalKind.ATTENTION


async def test_operations_skip_a_failed_compensation_in_the_inbox(
    browser, stack, client, settings, admin, credentials, screenshots
):
    handle = await vendor_whose_compensation_fails(client, settings, admin)
    workflow_id = handle.id
    await wait_for(lambda: _in_review(handle), what="the review item")

    # Someone without the operations role sees nothing there.
    context = await new_context(browser, stack)
    page = await context.new_page()
    await sign_in(page, "sam", credentials["approvers"]["sam"])
    await page.get_by_role("link", name="Needs attention").click()
    await expect(page.get_by_role("heading", name="Needs attention")).to_be_visible()
    await expect(page.locator(f'li.card[data-workflow-id="{workflow_id}"]')).to_have_count(0)
    await context.close()

    context = await new_context(browser, stack)
    page = await context.new_page()
    await sign_in(page, "omar", credentials["approvers"]["omar"])
    await page.get_by_role("link", name="Needs attention").click()
    await expect(page).to_have_url(f"{stack.api_url}/inbox/attention")
    card = page.locator(f'li.card[data-workflow-id="{workflow_id}"]')
    await expect(card).to_contain_text("compensation: deactivate vendor")
    await expect(card).to_contain_text("COMPENSATION_FAILED")
    await expect(card).to_contain_text("vendor")  # done so far: the ERP vendor it created
    await expect(card.get_by_role("button", name="Retry the step")).to_be_visible()
    await expect(card.get_by_role("button", name="Compensate and end")).to_have_count(0)
    await screenshots.capture(page, "inbox-attention.png", card)

    await card.get_by_role("button", name="Skip (done by hand)").click()
    await expect(card.get_by_role("status")).to_contain_text("REASON_REQUIRED")
    assert await _in_review(handle)  # nothing changed
    await card.get_by_label("Comment").fill("deactivated the vendor by hand in the ERP")
    await card.get_by_role("button", name="Skip (done by hand)").click()
    await expect(card.get_by_role("status")).to_contain_text("Skipped: recorded")

    error = await failure_of(handle)
    assert error.type == "REFUSED_BY_TEST"
    final = await status(handle)
    [item] = [a for a in final.approvals if a.request.kind == ApprovalKind.ATTENTION]
    assert (item.status, item.decided_by) == (ApprovalStatus.RESOLVED, "omar")
    assert item.comment == "deactivated the vendor by hand in the ERP"
    assert [
        c for c in final.compensations if "deactivate vendor" in c and "done by hand by omar" in c
    ]
    await context.close()
