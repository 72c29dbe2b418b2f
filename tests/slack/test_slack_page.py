"""The sandbox's Slack page under a real browser: a person clicks Approve on the approval's
message, the click reaches the API signed as Slack signs it, the run continues and the message
shows who decided; then Reject with a reason through the modal."""

from playwright.async_api import Locator, Page, expect

from tests.helpers import patient, result_of, start, status, wait_for
from tests.inbox.conftest import DESKTOP, browser  # noqa: F401 (the browser fixture)
from tests.slack.conftest import PROCUREMENT_CHANNEL

CONTRACTOR = {"vendor_type": "contractor", "payment_terms": "net15"}


async def _waiting_on_the_page(stack, client, settings, browser, user: str):  # type: ignore[no-untyped-def]  # noqa: F811
    """A vendor waiting for procurement, and the page of its channel, as `user`, once it shows
    the approval's message."""
    handle = await start(client, patient(settings), **CONTRACTOR)
    key = handle.id.removeprefix("vendor-onboarding-")
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    url = f"{stack.sandbox_url}/_slack?channel={PROCUREMENT_CHANNEL}&user={user}"

    async def shown() -> bool:
        await page.goto(url)
        return await _message(page, key).count() > 0

    await wait_for(shown, timeout=60, what="the approval message on the page")
    return handle, page, url


def _message(page: Page, business_key: str) -> Locator:
    return page.locator(".message", has_text=business_key)


async def test_approve_on_the_sandbox_slack_page(stack, client, settings, browser, screenshots):  # noqa: F811
    handle, page, url = await _waiting_on_the_page(stack, client, settings, browser, "U0OLGA")
    key = handle.id.removeprefix("vendor-onboarding-")
    message = _message(page, key)
    await message.get_by_role("button", name="Approve").click()
    assert (await result_of(handle)).approval == "approved by olga"

    async def updated() -> bool:
        await page.goto(url)
        return (
            await page.locator(".message", has_text="Approved by olga").filter(has_text=key).count()
            > 0
        )

    await wait_for(updated, timeout=60, what="the message updated")
    decided = page.locator(".message", has_text=key)
    await expect(decided.get_by_role("button")).to_have_count(0)
    await decided.scroll_into_view_if_needed()
    await screenshots.capture(page, "slack-decided.png", decided)
    await page.context.close()


async def test_reject_with_a_reason_in_the_modal(stack, client, settings, browser):  # noqa: F811
    handle, page, _ = await _waiting_on_the_page(stack, client, settings, browser, "U0PAT")
    key = handle.id.removeprefix("vendor-onboarding-")
    await page.locator(".message", has_text=key).get_by_role("button", name="Reject").click()
    modal = page.locator(".modal")
    await expect(modal).to_be_visible()
    await modal.get_by_role("button", name="Reject").click()  # no reason yet
    await expect(page.locator(".modal .error")).to_contain_text("reason")
    await page.locator(".modal textarea").fill("supplier failed the compliance check")
    await page.locator(".modal").get_by_role("button", name="Reject").click()
    await expect(page.locator(".modal")).to_have_count(0)

    async def rejected() -> bool:
        decisions = (await status(handle)).decisions
        return any(d.accepted and d.approver == "pat" for d in decisions)

    await wait_for(rejected, timeout=60, what="the rejection")
    [decision] = (await status(handle)).decisions
    assert decision.comment == "supplier failed the compliance check"
    await page.context.close()
