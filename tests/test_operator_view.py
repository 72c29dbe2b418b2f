"""What an operator sees of a run: its summary and current details, its search attributes, and
the saved queries of docs/operations.md run as written against the real server."""

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

from domain.approvals import Decision
from domain.contract import APPROVAL_PENDING_SINCE, STAGE, VENDOR_ONBOARDING_ID_PREFIX
from domain.invoice import InvoiceRequest
from starters.approvals import decide
from starters.directory import Approver
from starters.start import start_invoice
from tests.helpers import (
    current_details,
    failure_of,
    listed,
    listed_ids,
    patient,
    start,
    status,
    vendor_application,
    wait_for,
)
from tests.invoicing import invoice_request

PAT = Approver(id="pat", name="Pat", email="pat@company.example", roles=["procurement"])
OPERATIONS = Path(__file__).resolve().parents[1] / "docs" / "operations.md"


def saved_queries() -> dict[str, str]:
    """The saved-query table of docs/operations.md: first words of the description → filter."""
    rows = re.findall(r"^\| ([^|`]+?) \| `([^`]+)` \|$", OPERATIONS.read_text(), re.MULTILINE)
    return {what.split(" (")[0]: query for what, query in rows}


async def _unlisted(client: Client, query: str, workflow_id: str) -> bool:
    return workflow_id not in await listed_ids(client, query)


def test_the_readme_documents_the_three_saved_queries():
    assert set(saved_queries()) == {
        "overdue invoices over an amount",
        "approvals pending for more than a day",
        "compensated vendor onboardings",
    }


async def test_a_pending_approval_shows_in_details_attributes_and_the_saved_query(client, settings):
    app = vendor_application(country="IR", tax_id="IR55501234")
    handle = await start(client, patient(settings), **{k: app[k] for k in ("country", "tax_id")})
    await wait_for(lambda: _details_say(handle, "pending with procurement"), timeout=30)

    description = await handle.describe()
    summary = await description.static_summary()
    details = await description.static_details()
    key = handle.id.removeprefix(VENDOR_ONBOARDING_ID_PREFIX)
    assert summary is not None and key in summary and "IR" in summary
    assert details is not None and "procurement" in details
    for personal in (app["legal_name"], app["contact_email"], app["bank_account"]["iban"]):
        assert personal not in summary + details
    pending_since = description.search_attributes[APPROVAL_PENDING_SINCE.name][0]
    assert isinstance(pending_since, datetime)
    current = await current_details(handle)
    assert "**Stage:** awaiting_approval" in current

    query = saved_queries()["approvals pending for more than a day"]
    later = (pending_since + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # Visibility follows the run a moment later: first the run is listed where it belongs.
    await wait_for(
        lambda: listed(client, query.replace("<one day ago>", later), handle.id),
        what="the pending run in the saved query",
    )
    day_ago = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert handle.id not in await listed_ids(client, query.replace("<one day ago>", day_ago))

    outcome = await decide(client, PAT, handle.id, Decision.REJECT, "not on the approved list")
    assert outcome.accepted
    await failure_of(handle)
    closed = await handle.describe()
    assert "ApprovalPendingSince" not in closed.search_attributes
    assert closed.search_attributes[STAGE.name] == ["compensated"]
    current = await current_details(handle)
    assert "**Stage:** compensated" in current and "**Compensations:**" in current
    compensated = saved_queries()["compensated vendor onboardings"]
    assert handle.id in await wait_for(lambda: listed_ids(client, compensated), what="the list")
    await wait_for(
        lambda: _unlisted(client, query.replace("<one day ago>", later), handle.id),
        what="the decided run to leave the pending query",
    )


async def _details_say(handle: WorkflowHandle[Any, Any], words: str) -> bool:
    return words in await current_details(handle)


async def test_overdue_invoices_over_an_amount(client, settings, crm):
    overdue_settings = settings.model_copy(update={"dunning_offsets": [timedelta(seconds=0.5)]})
    handles = {}
    for size, unit_price in (("large", 250_000), ("small", 500)):
        line = {
            "description": size,
            "quantity": 1,
            "unit_price_cents": unit_price,
            "tax_rate_bp": 0,
        }
        account_id, deal_id = crm.account_and_deal()
        request = invoice_request(
            account_id,
            deal_id,
            payment_terms="immediate",
            lines=[line],
        )
        started = await start_invoice(
            client, overdue_settings, InvoiceRequest.model_validate(request)
        )
        handles[size] = client.get_workflow_handle(started.workflow_id)
        summary = await (await handles[size].describe()).static_summary()
        assert summary is not None and request["invoice_number"] in summary

    for handle in handles.values():
        await wait_for(_stage_is(handle, "overdue"), timeout=60, what="the invoice to go overdue")
    query = saved_queries()["overdue invoices over an amount"]
    await wait_for(lambda: listed(client, query, handles["large"].id), what="the large one")
    # The small one is overdue in visibility too, and still not over the amount.
    overdue = "WorkflowType = 'InvoiceGeneration' AND Stage = 'overdue'"
    await wait_for(lambda: listed(client, overdue, handles["small"].id), what="the small one")
    assert handles["small"].id not in await listed_ids(client, query)
    assert "**Stage:** overdue" in await current_details(handles["large"])


def _stage_is(handle: WorkflowHandle[Any, Any], stage: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return (await status(handle)).stage == stage

    return check
