"""What an operator sees: the Web UI the dev stack runs shows decoded inputs, results, failures
and current details to a browser that followed the one-time sign-in link the demo prints, with
no setting to change; a second use of that link is refused; a browser that never signed in
sees none of it. Debian's Chromium, driven by Playwright (headless)."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Frame, Page, async_playwright, expect
from playwright.async_api import Error as PlaywrightError

from domain.contract import CANCEL_UPDATE
from domain.subscription import ChangeResult, LifecycleChange
from runtime.settings import Settings
from starters.api.codec_session import SESSION_COOKIE
from starters.start import web_ui_url
from tests.helpers import failure_of, start, status, wait_for
from tests.test_subscription import PLAN, start_subscription

CHROMIUM = Path("/usr/bin/chromium")
# What the Web UI shows when its codec requests fail.
CODEC_ERRORS = ("Codec Server could not connect", "Codec Server failed")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium", pytrace=False)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        await launched.close()


async def _workflow_page_text(page: Page, url: str, *wanted: str) -> str:
    """The text of the run's page once it shows each of `wanted` (or after ~20 s)."""
    await page.goto(url)
    text = ""
    for _ in range(40):
        text = await page.inner_text("body")
        if all(w in text for w in wanted):
            break
        await asyncio.sleep(0.5)
    return text


def _run_url(settings: Settings, workflow_id: str) -> str:
    """The run's link as the demo's summary prints it (`Web UI:`)."""
    return web_ui_url(settings, "default", workflow_id)


async def test_the_demos_sign_in_link_shows_the_web_ui_decoded(
    browser, client, settings, stack, screenshots
):
    handle = await start(client, settings)
    await asyncio.wait_for(handle.result(), 60)
    name = (await _input_of(client, handle.id))["application"]["legal_name"]
    failed = await start(client, settings, vendor_type="contractor", payment_terms="net60")
    failure = (await failure_of(failed)).message
    link = stack.web_ui_sign_in_url()  # what `backoffice demo` prints

    operator = await browser.new_context()
    page = await operator.new_page()
    await page.goto(link)
    assert page.url.startswith(f"{stack.temporal_ui_url}/namespaces/default/workflows"), page.url
    shown = await _workflow_page_text(page, _run_url(settings, handle.id), name, "vendor_id")
    assert name in shown, "the Web UI did not show the decoded input"
    assert "vendor_id" in shown, "no decoded result on the page"
    assert not [e for e in CODEC_ERRORS if e in shown], shown
    # The UI's own codec indicator says its codec requests succeed.
    await expect(page.get_by_test_id("data-encoder-status-success")).to_be_visible()
    summary = await (await handle.describe()).static_summary()
    assert summary and summary in shown, "the Web UI did not show the run's summary"
    # Captured once the UI has fetched the run and the codec server decoded it.
    await page.set_viewport_size({"width": 1280, "height": 900})
    await screenshots.capture(page, "web-ui-decoded.png", page.get_by_text(name).first)

    shown = await _workflow_page_text(page, _run_url(settings, failed.id), failure)
    assert failure in shown, "the Web UI did not show the decoded failure message"
    assert not [e for e in CODEC_ERRORS if e in shown], shown

    waiting = await start(client, settings, country="IR", tax_id="IR20261121")
    await _workflow_page_text(page, _run_url(settings, waiting.id), "User Metadata")
    await page.get_by_text("User Metadata", exact=True).first.click()
    details = await _frames_text(page, "pending with procurement")
    assert "Stage: awaiting_approval" in details, "no current details on the page of a waiting run"
    await page.set_viewport_size({"width": 1280, "height": 720})
    current = await _frame_showing(page, "pending with procurement")
    await screenshots.capture(
        page,
        "web-ui-waiting-run.png",
        page.get_by_text("User Metadata", exact=True).first,
        current.get_by_text("pending with procurement").first,
    )
    # A query's result, decoded: the run's status (the UI's first query type).
    await page.get_by_text("Queries", exact=True).first.click()
    await page.get_by_role("button", name="Run Query").click()
    await expect(page.get_by_test_id("query-result")).to_contain_text("awaiting_approval")
    await expect(page.get_by_test_id("query-result")).to_contain_text(waiting.id.split("-")[-1])
    await operator.close()

    # The same link a second time, in another browser: refused, and no session for it.
    latecomer = await browser.new_context()
    page = await latecomer.new_page()
    answer = await page.goto(link)
    assert answer is not None and answer.status == 410, answer and answer.status
    assert "already been used" in await page.inner_text("body")
    assert not [c for c in await latecomer.cookies() if c["name"] == SESSION_COOKIE]
    await latecomer.close()


async def test_a_browser_that_never_signed_in_sees_nothing_decoded(
    browser, client, settings, stack
):
    handle = await start(client, settings)
    await asyncio.wait_for(handle.result(), 60)
    name = (await _input_of(client, handle.id))["application"]["legal_name"]
    stranger = await browser.new_context()
    page = await stranger.new_page()
    codec = f"{stack.api_url}/codec/decode"
    async with page.expect_response(lambda r: r.url.startswith(codec)) as asked:
        await _workflow_page_text(page, _run_url(settings, handle.id), "Result")
    assert (await asked.value).status == 401, "the codec server decoded without a session"
    await page.wait_for_load_state("networkidle")  # every codec request answered
    shown = await page.inner_text("body")
    # The same page that showed the name to the operator: loaded, the name not on it.
    assert handle.id in shown and "Result" in shown, "the workflow page did not load"
    assert name not in shown
    await stranger.close()


async def test_a_subscriptions_page_shows_its_plan_next_period_and_what_is_open(
    browser, client, settings, stack, crm
):
    handle = await start_subscription(client, settings, crm, period_length=timedelta(hours=1))
    await wait_for(lambda: _billed_once(handle), what="the first period billed")
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(stack.web_ui_sign_in_url(handle.id))
    await _workflow_page_text(page, _run_url(settings, handle.id), "User Metadata")
    await page.get_by_text("User Metadata", exact=True).first.click()
    details = await _frames_text(page, "Next period:")
    assert "Stage: active" in details, details
    assert f"Plan: {PLAN.arithmetic()}" in details, details
    assert "Next period: 2, " in details and "Open: 642.60 EUR in 1 invoice(s)" in details, details
    await context.close()
    await handle.execute_update(
        CANCEL_UPDATE, LifecycleChange(by="fiona", at_period_end=False), result_type=ChangeResult
    )


async def _billed_once(handle: Any) -> bool:
    found = (await status(handle)).subscription
    return found is not None and found.periods_billed == 1


async def _frames_text(page: Page, wanted: str) -> str:
    """The text of the page's frames (the UI renders markdown details in frames of their own)."""
    text = ""
    for _ in range(30):
        texts = [await _text_of(frame) for frame in page.frames if frame != page.main_frame]
        text = "\n".join(texts)
        if wanted in text:
            break
        await asyncio.sleep(0.5)
    return text


async def _frame_showing(page: Page, wanted: str) -> Frame:
    for frame in page.frames:
        if frame != page.main_frame and wanted in await _text_of(frame):
            return frame
    raise AssertionError(f"no frame shows {wanted!r}")


async def _text_of(frame: Frame) -> str:
    """A frame's text, or nothing if the UI replaced the frame while it was being read (the
    next round reads its successor)."""
    try:
        return await frame.inner_text("body", timeout=5_000)
    except PlaywrightError:
        if frame.is_detached():
            return ""
        raise


async def _input_of(client, workflow_id: str) -> dict[str, Any]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    (value,) = await client.data_converter.decode(started.input.payloads)
    return dict(value)
