"""The approval inbox as approvers use it, in a real browser: sign in, see what waits for you,
approve with a comment, find it under "Decided"; and what must not work."""

import asyncio

import pytest
from playwright.async_api import expect
from sqlalchemy import delete

from domain.approvals import ApprovalStatus
from domain.contract import INVOICE_ID_PREFIX
from runtime.db import SignInFailures, make_engine
from starters.api.inbox.sessions import SESSION_COOKIE
from tests.helpers import status, wait_for
from tests.inbox.conftest import AMOUNT, PHONE, new_context, sign_in

pytestmark = pytest.mark.timeout(300)


def _same(cookie):
    """A cookie as `add_cookies` takes it: the one a browser got, for another browser."""
    return {key: cookie[key] for key in ("name", "value", "domain", "path")}


def _card(page, workflow_id: str):
    return page.locator(f'li.card[data-workflow-id="{workflow_id}"]')


async def _moved_on(handle) -> bool:
    current = await status(handle)
    return current.pending_approval is None and current.stage != "awaiting_approval"


async def test_finance_approver_approves_with_a_comment_and_finds_it_under_decided(
    browser, stack, credentials, invoices, screenshots
):
    handle = await invoices()
    number = handle.id.removeprefix(INVOICE_ID_PREFIX)
    context = await new_context(browser, stack)
    page = await context.new_page()

    await page.goto("/inbox")
    await expect(page).to_have_url(f"{stack.api_url}/inbox/sign-in")
    await sign_in(page, "fiona", credentials["approvers"]["fiona"])
    await expect(page).to_have_url(f"{stack.api_url}/inbox")
    card = _card(page, handle.id)
    await expect(card).to_contain_text(AMOUNT)
    await expect(card).to_contain_text(number)
    await expect(card).to_contain_text("billing-service")  # requested by
    await expect(card.get_by_role("link", name=handle.id)).to_have_attribute(
        "href", f"{stack.temporal_ui_url}/namespaces/default/workflows/{handle.id}"
    )
    [cookie] = [c for c in await context.cookies() if c["name"] == SESSION_COOKIE]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]  # http
    await screenshots.capture(page, "inbox-desktop.png", card)

    phone = await new_context(browser, stack, viewport=PHONE, is_mobile=True, has_touch=True)
    await phone.add_cookies([_same(cookie)])
    phone_page = await phone.new_page()
    await phone_page.goto("/inbox")
    await expect(_card(phone_page, handle.id)).to_contain_text(AMOUNT)
    width = await phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the inbox scrolls sideways on a phone"
    await screenshots.capture(
        phone_page, "inbox-phone.png", _card(phone_page, handle.id), full_page=True
    )
    await phone.close()

    # Decided in place: the page is not reloaded (the marker survives) and says what happened.
    await page.evaluate("window.stillTheSamePage = true")
    await card.get_by_label("Comment").fill("Price list checked against the contract")
    await card.get_by_role("button", name="Approve").click()
    await expect(card.get_by_role("status")).to_contain_text("Approved")
    assert await page.evaluate("window.stillTheSamePage === true")

    await wait_for(lambda: _moved_on(handle), what="the invoice to move on after the approval")
    final = await status(handle)
    [approval] = final.approvals
    assert approval.status == ApprovalStatus.APPROVED and approval.decided_by == "fiona"
    assert approval.comment == "Price list checked against the contract"

    await page.get_by_role("link", name="Decided").click()
    decided = _card(page, handle.id)
    await expect(decided).to_contain_text("Approved")
    await expect(decided).to_contain_text("Price list checked against the contract")
    await expect(decided).to_contain_text("fiona")
    await expect(decided).to_contain_text(AMOUNT)
    await screenshots.capture(page, "inbox-decided.png", decided)

    # Signing out ends the session on the server: the old cookie opens nothing.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(f"{stack.api_url}/inbox/sign-in")
    again = await new_context(browser, stack)
    await again.add_cookies([_same(cookie)])
    stale = await again.new_page()
    await stale.goto("/inbox")
    await expect(stale).to_have_url(f"{stack.api_url}/inbox/sign-in")
    await again.close()
    await context.close()


async def test_procurement_does_not_see_a_finance_approval(browser, stack, credentials, invoices):
    handle = await invoices()
    # The positive control: finance sees the card, so it is listed by now.
    finance = await new_context(browser, stack)
    fiona = await finance.new_page()
    await sign_in(fiona, "fiona", credentials["approvers"]["fiona"])
    await expect(_card(fiona, handle.id)).to_contain_text(AMOUNT)
    await finance.close()

    context = await new_context(browser, stack)
    page = await context.new_page()
    await sign_in(page, "pat", credentials["approvers"]["pat"])
    await expect(page.get_by_role("heading", name="Waiting for me")).to_be_visible()
    await expect(_card(page, handle.id)).to_have_count(0)
    await context.close()


async def test_a_failed_sign_in_shows_an_error_and_opens_no_session(browser, stack):
    context = await new_context(browser, stack)
    page = await context.new_page()
    await sign_in(page, "fiona", "not-fionas-password")
    await expect(page.get_by_role("alert")).to_contain_text("Sign-in failed")
    await sign_in(page, "nobody", "whatever-password")
    await expect(page.get_by_role("alert")).to_contain_text("Sign-in failed")
    assert SESSION_COOKIE not in {c["name"] for c in await context.cookies()}
    await page.goto("/inbox")
    await expect(page).to_have_url(f"{stack.api_url}/inbox/sign-in")
    await context.close()


async def test_too_many_wrong_passwords_refuse_the_id_even_the_right_one(
    browser, stack, settings, credentials
):
    context = await new_context(browser, stack)
    page = await context.new_page()
    try:
        for _ in range(settings.sign_in_max_failures):
            await sign_in(page, "carla", "not-carlas-password")
            await expect(page.get_by_role("alert")).to_contain_text("Sign-in failed")
        async with page.expect_response(lambda r: r.request.method == "POST") as answer:
            await sign_in(page, "carla", credentials["approvers"]["carla"])
        assert (await answer.value).status == 429
        await expect(page.get_by_role("alert")).to_contain_text(
            "Sign-in refused: too many wrong passwords for this approver id: try again in 15 min"
        )
        assert SESSION_COOKIE not in {c["name"] for c in await context.cookies()}
    finally:
        await context.close()
        engine = make_engine(settings.resolved_database_url)
        with engine.begin() as conn:  # carla may sign in again in the next test
            conn.execute(delete(SignInFailures).where(SignInFailures.approver_id == "carla"))
        engine.dispose()


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    browser, stack, credentials, invoices, web
):
    handle = await invoices()
    context = await new_context(browser, stack)
    page = await context.new_page()
    await sign_in(page, "fiona", credentials["approvers"]["fiona"])
    await expect(_card(page, handle.id)).to_be_visible()
    token = await _card(page, handle.id).locator('input[name="csrf_token"]').input_value()
    form = {"workflow_id": handle.id, "approval_id": "finance-review", "decision": "approve"}

    without = await context.request.post("/inbox/decide", form=form)
    assert without.status == 403
    forged = await context.request.post("/inbox/decide", form={**form, "csrf_token": "x" * 43})
    assert forged.status == 403
    signed_out = await web.post("/inbox/decide", data={**form, "csrf_token": token})
    assert signed_out.status_code == 303  # no session cookie: to the sign-in page
    await asyncio.sleep(1)
    current = await status(handle)
    assert current.pending_approval is not None and current.decisions == []
    await context.close()


async def test_the_decision_form_works_without_javascript(browser, stack, credentials, invoices):
    handle = await invoices()
    context = await new_context(browser, stack, java_script_enabled=False)
    page = await context.new_page()
    await sign_in(page, "olga", credentials["approvers"]["olga"])
    card = _card(page, handle.id)
    await card.get_by_label("Comment").fill("Wrong price list")
    await card.get_by_role("button", name="Reject").click()
    await expect(page).to_have_url(f"{stack.api_url}/inbox/decide")
    await expect(page.get_by_role("status")).to_contain_text("Rejected")
    await wait_for(lambda: _moved_on(handle), what="the invoice to end after the rejection")
    [approval] = (await status(handle)).approvals
    assert approval.status == ApprovalStatus.REJECTED and approval.decided_by == "olga"
    await context.close()
