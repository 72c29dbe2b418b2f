"""300 approvals waiting for procurement, read a page at a time: `GET /v1/approvals` with a
page size and a cursor (as a service and as an approver), `backoffice approvals --page-size
--cursor`, and the inbox's "Next page" in Chromium; a cursor the list did not hand out is
refused and changes nothing."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import expect
from temporalio.client import Client, WorkflowHandle

from runtime.settings import Settings
from tests.helpers import patient, start
from tests.inbox.conftest import new_context, sign_in
from tests.test_cli import backoffice

pytestmark = pytest.mark.timeout(900)

RUNS = 300
STARTS_AT_ONCE = 20


@pytest.fixture(scope="module")
async def waiting(client: Client, settings: Settings) -> AsyncIterator[set[str]]:
    """The workflow ids of `RUNS` contractor applications, all waiting for procurement; ended
    when the module is done so no one else's inbox keeps them."""
    tag = uuid.uuid4().hex[:6].upper()
    gate = asyncio.Semaphore(STARTS_AT_ONCE)
    patient_settings = patient(settings)

    async def one(n: int) -> WorkflowHandle[Any, Any]:
        async with gate:
            return await start(
                client,
                patient_settings,
                application_id=f"APP-PG{tag}-{n:03d}",
                vendor_type="contractor",
                payment_terms="net15",
            )

    handles = await asyncio.gather(*(one(n) for n in range(RUNS)))
    query = (
        f'WorkflowId STARTS_WITH "vendor-onboarding-APP-PG{tag}-" '
        'AND ApprovalStatus = "pending" AND ExecutionStatus = "Running"'
    )
    for _ in range(600):
        if (await client.count_workflows(query)).count == RUNS:
            break
        await asyncio.sleep(1)
    else:
        pytest.fail(f"not all {RUNS} runs waited for procurement within 10 minutes")
    yield {h.id for h in handles}
    for handle in handles:
        await handle.terminate("test finished")


async def _all_pages(web: httpx.AsyncClient, page_size: int, **auth: Any) -> tuple[list[str], int]:
    """Every workflow id the list shows, following `next_cursor`; and how many pages it took."""
    seen: list[str] = []
    cursor, pages = None, 0
    while True:
        params: dict[str, Any] = {"page_size": page_size}
        if cursor is not None:
            params["cursor"] = cursor
        answer = await web.get("/v1/approvals", params=params, **auth)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body["approvals"]) <= page_size
        seen += [a["workflow_id"] for a in body["approvals"]]
        pages += 1
        cursor = body.get("next_cursor")
        if cursor is None:
            return seen, pages


async def test_the_api_pages_through_every_pending_approval(web, credentials, waiting):
    reader = {"headers": {"Authorization": f"Bearer {credentials['api_clients']['svc-reader']}"}}
    seen, pages = await _all_pages(web, 50, **reader)
    assert waiting <= set(seen)
    assert len(seen) == len(set(seen)), "an approval was listed twice"
    assert pages >= RUNS // 50

    # An approver sees the pages of their own roles: pat holds procurement, fiona does not.
    pat = {"auth": httpx.BasicAuth("pat", credentials["approvers"]["pat"])}
    seen_by_pat, _ = await _all_pages(web, 120, **pat)
    assert waiting <= set(seen_by_pat)
    fiona = {"auth": httpx.BasicAuth("fiona", credentials["approvers"]["fiona"])}
    seen_by_fiona, _ = await _all_pages(web, 500, **fiona)
    assert not waiting & set(seen_by_fiona)


async def test_the_cli_pages_through_every_pending_approval(cli_env, waiting):
    seen: list[str] = []
    cursor: list[str] = []
    while True:
        listed = backoffice(
            "approvals", "--role", "procurement", "--page-size", "100", "--json", *cursor,
            env=cli_env,
        )  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        page = json.loads(listed.stdout)
        seen += [a["workflow_id"] for a in page["approvals"]]
        if page["next_cursor"] is None:
            break
        cursor = ["--cursor", page["next_cursor"]]
    assert waiting <= set(seen) and len(seen) == len(set(seen))

    refused = backoffice("approvals", "--cursor", "bm90IGEgY3Vyc29y", env=cli_env)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "cursor" in refused.stderr


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor"),  # base64 of "not a cursor"
        ({"cursor": "!!!"}, "cursor"),
        ({"cursor": "A" * 5000}, "cursor"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "501"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
    ],
)
async def test_a_cursor_or_page_size_the_list_did_not_hand_out_is_refused(
    web, credentials, params, field
):
    reader = {"Authorization": f"Bearer {credentials['api_clients']['svc-reader']}"}
    answer = await web.get("/v1/approvals", params=params, headers=reader)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert [f["field"] for f in error["fields"]] == [field]


async def test_the_inbox_pages_through_every_pending_approval(browser, stack, credentials, waiting):
    context = await new_context(browser, stack)
    page = await context.new_page()
    await sign_in(page, "pat", credentials["approvers"]["pat"])
    await expect(page).to_have_url(f"{stack.api_url}/inbox")

    seen: list[str] = []
    pages = 0
    while True:
        cards = page.locator("li.card")
        seen += [await c.get_attribute("data-workflow-id") or "" for c in await cards.all()]
        pages += 1
        following = page.get_by_role("link", name="Next page")
        if await following.count() == 0:
            break
        await following.click()
        await expect(page.get_by_role("link", name="First page")).to_be_visible()
    refused = await page.goto("/inbox?cursor=bm90IGEgY3Vyc29y")
    assert refused is not None and refused.status == 422
    await expect(page.get_by_role("heading", name="No such page")).to_be_visible()
    await context.close()

    assert waiting <= set(seen)
    assert len(seen) == len(set(seen)), "an approval was shown twice"
    assert pages >= RUNS // 50
