"""The approval inbox under a real browser: Debian's Chromium driven by Playwright (headless),
invoices waiting for finance, and signing in as an approver of the dev stack's directory."""

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from temporalio.client import Client, WorkflowHandle

from devstack.stack import Stack
from domain.approvals import ApprovalTimeouts
from domain.contract import INVOICE_GENERATION, invoice_workflow_id
from domain.invoice import InvoiceGenerationInput, InvoiceRequest, InvoiceResult
from domain.systems import WORKFLOW_TASK_QUEUE
from runtime.settings import Settings
from tests.helpers import status, wait_for
from tests.invoicing import Crm, invoice_request

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
# At the finance threshold (tax free), so the invoice waits for `finance`.
AT_THRESHOLD = [
    {
        "description": "Enterprise licence",
        "quantity": 1,
        "unit_price_cents": 1_000_000,
        "tax_rate_bp": 0,
    }
]
AMOUNT = "10,000.00 EUR"
# Long approval windows: the stack's are seconds, and a person (or a test) needs longer.
PATIENT = ApprovalTimeouts(
    remind_after=timedelta(hours=1),
    escalate_after=timedelta(hours=1),
    expire_after=timedelta(hours=1),
)

expect.set_options(timeout=30_000)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (scripts/setup.sh does)",
            pytrace=False,
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="session")
def credentials(stack: Stack) -> dict[str, Any]:
    """The demo credentials the dev stack seeded (approver passwords among them)."""
    return stack.credentials()


@pytest.fixture
async def web(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client of the API (no cookies kept between tests)."""
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60, trust_env=False) as http:
        yield http


@pytest.fixture
async def invoices(client: Client, settings: Settings, crm: Crm) -> AsyncIterator[Any]:
    """`await invoices()`: a new invoice waiting for finance. Runs still waiting for a decision
    when the test ends are terminated, so no approval of ours stays in anyone's inbox."""
    started: list[WorkflowHandle[Any, InvoiceResult]] = []

    async def waiting_for_finance() -> WorkflowHandle[Any, InvoiceResult]:
        account_id, deal_id = crm.account_and_deal()
        request = InvoiceRequest.model_validate(
            invoice_request(account_id, deal_id, lines=AT_THRESHOLD)
        )
        policy = settings.invoice_policy().model_copy(update={"approval_timeouts": PATIENT})
        handle = await client.start_workflow(
            INVOICE_GENERATION,
            InvoiceGenerationInput(request=request, policy=policy),
            id=invoice_workflow_id(request.invoice_number),
            task_queue=WORKFLOW_TASK_QUEUE,
            result_type=InvoiceResult,
        )
        started.append(handle)
        await wait_for(lambda: _stage(handle, "awaiting_approval"), what="the finance approval")
        return handle

    yield waiting_for_finance
    for handle in started:
        if (await status(handle)).pending_approval is not None:
            await handle.terminate("test finished")


async def _stage(handle: WorkflowHandle[Any, Any], *stages: str) -> bool:
    return (await status(handle)).stage in stages


async def new_context(browser: Browser, stack: Stack, **options: Any) -> BrowserContext:
    options.setdefault("viewport", DESKTOP)
    context = await browser.new_context(base_url=stack.api_url, **options)
    context.set_default_timeout(60_000)
    return context


async def sign_in(page: Page, approver_id: str, password: str) -> None:
    await page.goto("/inbox/sign-in")
    await page.get_by_label("Approver id").fill(approver_id)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
