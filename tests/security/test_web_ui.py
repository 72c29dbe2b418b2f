"""What an operator sees: the dev server's Web UI shows decoded inputs and results through the
codec server, once this browser holds a codec session and the UI includes credentials; without
the session it shows nothing of them. Debian's Chromium, driven by Playwright (headless)."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Frame, Page, async_playwright
from playwright.async_api import Error as PlaywrightError

from tests.helpers import start

CHROMIUM = Path("/usr/bin/chromium")


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


async def _use_codec_server(page: Page, ui_url: str, endpoint: str) -> None:
    """The UI's codec settings as its user sets them in this browser: our endpoint, with
    "include cross-origin credentials" (the dev server's own setting cannot say that)."""
    await page.goto(ui_url)
    settings = {
        "endpoint": endpoint,
        "includeCredentials": True,
        "passAccessToken": False,
        "overrideRemoteCodecConfiguration": True,
    }
    await page.evaluate(
        "s => Object.entries(s).forEach(([k, v]) => localStorage.setItem(k, JSON.stringify(v)))",
        settings,
    )


async def _workflow_page_text(page: Page, ui_url: str, workflow_id: str, wanted: str) -> str:
    await page.goto(f"{ui_url}/namespaces/default/workflows/{workflow_id}")
    for _ in range(40):
        text = await page.inner_text("body")
        if wanted in text:
            break
        await asyncio.sleep(0.5)
    return text


async def test_the_web_ui_shows_decoded_payloads_with_a_codec_session(
    browser, client, settings, stack, codec_token, screenshots
):
    handle = await start(client, settings)
    await asyncio.wait_for(handle.result(), 60)
    name = (await _input_of(client, handle.id))["application"]["legal_name"]
    endpoint = f"{stack.api_url}/codec"

    operator = await browser.new_context()
    page = await operator.new_page()
    await page.goto(f"{endpoint}/session")
    await page.fill("input[name=token]", codec_token)
    await page.click("button[type=submit]")
    assert "Codec session started" in await page.inner_text("body")
    await _use_codec_server(page, stack.temporal_ui_url, endpoint)
    shown = await _workflow_page_text(page, stack.temporal_ui_url, handle.id, name)
    assert name in shown, "the Web UI did not show the decoded input"
    assert '"vendor_id"' in shown or "vendor_id" in shown, "no decoded result on the page"
    summary = await (await handle.describe()).static_summary()
    assert summary and summary in shown, "the Web UI did not show the run's summary"
    waiting = await start(client, settings, country="IR", tax_id="IR20261121")
    await _workflow_page_text(page, stack.temporal_ui_url, waiting.id, "User Metadata")
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
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.goto(f"{stack.temporal_ui_url}/namespaces/default/workflows/{handle.id}")
    # Captured once the UI has fetched the run and the codec server decoded it.
    await screenshots.capture(page, "web-ui-decoded.png", page.get_by_text(name).first)
    await operator.close()

    stranger = await browser.new_context()  # same settings, no codec session
    page = await stranger.new_page()
    await _use_codec_server(page, stack.temporal_ui_url, endpoint)
    async with page.expect_response(lambda r: r.url.startswith(f"{endpoint}/decode")) as asked:
        await _workflow_page_text(page, stack.temporal_ui_url, handle.id, "Result")
    assert (await asked.value).status == 401, "the codec server decoded without a session"
    await page.wait_for_load_state("networkidle")  # every codec request answered
    shown = await page.inner_text("body")
    # The same page that showed the name to the operator: loaded, the name not on it.
    assert handle.id in shown and "Result" in shown, "the workflow page did not load"
    assert name not in shown
    await stranger.close()


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
