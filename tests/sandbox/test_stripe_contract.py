"""The billing activities' every request shape, sent to stripe-mock (Stripe's own mock, which
refuses any request its OpenAPI spec does not allow) and to the sandbox's emulation.

Each activity and each branch: find a customer or create one, replay a create with the same key,
create a tax rate and the invoice with its items, finalize, void or delete, list pages, retrieve
by id. A refused request or an answer the activities cannot parse fails the test, so the
emulation and Stripe's spec cannot drift apart. stripe-mock is stateless (it answers fixtures):
the end-to-end and exactly-once proofs stay on the sandbox.
"""

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.audit import AuditLog
from activities.billing import BillingActivities
from activities.http import SystemClient
from activities.stripe_api import STRIPE_HEADERS, Invoice
from domain.records import (
    BillingLine,
    CreateInvoiceInput,
    EnsureCustomerInput,
    InvoiceIdRef,
    InvoiceNumberRef,
    ListInvoicesInput,
)
from domain.systems import System
from runtime.db import AuditRow, make_engine
from runtime.schema import upgrade_schema
from tests.sandbox.conftest import BILLING_KEY, SandboxProcess, seed_credentials
from tests.stripe_mock import TEST_KEY, StripeMockUnavailable, running_stripe_mock


class StaticKey:
    """The key of the server under test (Vault's part is proven on the real stack)."""

    def __init__(self, key: str) -> None:
        self._key = key

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}

    def forget(self) -> None:
        pass


@pytest.fixture(scope="module")
def stripe_mock_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        with running_stripe_mock(tmp_path_factory.mktemp("stripe-mock") / "log") as url:
            yield url
    except StripeMockUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(params=["stripe-mock", "sandbox"])
def target(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(base URL, secret key) of the server the activities talk to."""
    if request.param == "stripe-mock":
        return request.getfixturevalue("stripe_mock_url"), TEST_KEY
    request.getfixturevalue("admin")  # a reset sandbox with its credentials
    sandbox: SandboxProcess = request.getfixturevalue("sandbox")
    return f"{sandbox.base_url}/billing", BILLING_KEY


@dataclasses.dataclass
class Run:
    """The billing activities of one workflow run, and the audit of every request they sent."""

    activities: BillingActivities
    env: ActivityEnvironment
    audit_url: str
    stateful: bool

    def requests(self) -> list[tuple[str, str, int | None]]:
        with make_engine(self.audit_url).connect() as conn:
            rows = conn.execute(select(AuditRow.method, AuditRow.path, AuditRow.status))
            return [(r.method, r.path, r.status) for r in rows]


@asynccontextmanager
async def _billing_run(base_url: str, key: str, folder: Path) -> AsyncIterator[Run]:
    audit_url = f"sqlite:///{folder / 'audit.db'}"
    upgrade_schema(audit_url)
    engine = make_engine(audit_url)
    async with httpx.AsyncClient(timeout=10) as http:
        client = SystemClient(
            System.BILLING, base_url, http, StaticKey(key), AuditLog(engine), STRIPE_HEADERS
        )
        env = ActivityEnvironment()
        workflow_id = f"invoice-C{uuid.uuid4().hex[:8].upper()}"
        env.info = dataclasses.replace(env.info, workflow_id=workflow_id)
        yield Run(BillingActivities(client), env, audit_url, base_url.endswith("/billing"))


@pytest.fixture
async def run(target: tuple[str, str], tmp_path: Path) -> AsyncIterator[Run]:
    async with _billing_run(*target, tmp_path) as billing_run:
        yield billing_run


@pytest.fixture
async def sandbox_run(
    sandbox: SandboxProcess, admin: httpx.Client, tmp_path: Path
) -> AsyncIterator[Run]:
    """The activities on the sandbox only: what needs state (stripe-mock keeps none)."""
    async with _billing_run(f"{sandbox.base_url}/billing", BILLING_KEY, tmp_path) as billing_run:
        yield billing_run


def _invoice_input(customer_id: str, number: str) -> CreateInvoiceInput:
    return CreateInvoiceInput(
        customer_id=customer_id,
        number=number,
        currency="EUR",
        lines=[
            BillingLine(
                description="Subscription", quantity=12, unit_price_cents=25_000, tax_rate_bp=1900
            ),
            BillingLine(
                description="Onboarding", quantity=1, unit_price_cents=99_950, tax_rate_bp=0
            ),
        ],
        payment_terms="net30",
        due_date="2030-01-31",
        metadata={"crm_deal_id": "DEAL-1"},
    )


def _refused(requests: list[tuple[str, str, int | None]]) -> list[tuple[str, str, int | None]]:
    return [r for r in requests if r[2] is None or r[2] >= 400]


async def test_every_request_shape_is_accepted_and_every_answer_parses(run: Run) -> None:
    acts, env = run.activities, run.env
    account = f"ACC-{uuid.uuid4().hex[:6]}"
    number = f"INV-{uuid.uuid4().hex[:8].upper()}"
    customer = await env.run(
        acts.find_or_create_customer,
        EnsureCustomerInput(
            crm_account_id=account, name="Acme GmbH", email="ap@acme.example", currency="EUR"
        ),
    )
    again = await env.run(
        acts.find_or_create_customer,
        EnsureCustomerInput(
            crm_account_id=account, name="Acme GmbH", email="ap@acme.example", currency="EUR"
        ),
    )
    draft = await env.run(acts.create_invoice, _invoice_input(customer.id, number))
    replayed = await env.run(acts.create_invoice, _invoice_input(customer.id, number))
    fetched = await env.run(acts.get_invoice_by_id, InvoiceIdRef(invoice_id=draft.id))
    missing = await env.run(acts.get_invoice_by_id, InvoiceIdRef(invoice_id="in_doesnotexist"))
    now = datetime.now(UTC)
    listed = await env.run(
        acts.list_invoices,
        ListInvoicesInput(
            finalized_from=now - timedelta(days=1), finalized_before=now + timedelta(days=1)
        ),
    )
    assert customer.id.startswith("cus_") and draft.id.startswith("in_")
    assert fetched is not None and fetched.id == draft.id
    if run.stateful:
        # The second lookup finds the customer; the replayed create answers the same invoice.
        assert again.id == customer.id and replayed.id == draft.id
        assert draft.total_cents == 12 * 25_000 * 119 // 100 + 99_950 and draft.status == "draft"
        assert missing is None
        opened = await env.run(acts.finalize_invoice, InvoiceNumberRef(number=number))
        assert opened.status == "open" and opened.id == draft.id
        assert (
            await env.run(acts.finalize_invoice, InvoiceNumberRef(number=number))
        ).status == "open"
        now = datetime.now(UTC)
        listed = await env.run(
            acts.list_invoices,
            ListInvoicesInput(
                finalized_from=now - timedelta(hours=1), finalized_before=now + timedelta(hours=1)
            ),
        )
        assert [i.number for i in listed.invoices] == [number]
        undone = await env.run(acts.void_invoice, InvoiceNumberRef(number=number))
        assert undone.undone and "voided" in undone.description
        got = await env.run(acts.get_invoice, InvoiceNumberRef(number=number))
        assert got is not None and got.status == "void"
    else:
        # stripe-mock answers fixtures: drive finalize, delete and void with its invoice.
        invoice = await run.activities._billing.call("GET", f"/v1/invoices/{draft.id}", Invoice)
        await env.run(acts.finalize, invoice)
        await env.run(acts.undo, invoice)
        await env.run(acts.undo, invoice.model_copy(update={"status": "open"}))
        await env.run(acts.void_invoice, InvoiceNumberRef(number=number))
    sent = run.requests()
    # The only refusal: the sandbox has no invoice `in_doesnotexist` (stripe-mock has them all).
    missing_404 = [("GET", "/v1/invoices/in_doesnotexist", 404)]
    assert _refused(sent) == (missing_404 if run.stateful else [])
    shapes = {(method, path.split("/")[2]) for method, path, _ in sent}
    assert {
        ("POST", "customers"),
        ("POST", "invoices"),
        ("POST", "invoiceitems"),
        ("GET", "invoices"),
    } <= shapes


def _other_run(run: Run) -> ActivityEnvironment:
    """The activity environment of another workflow run, on the same billing system."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=f"invoice-O{uuid.uuid4().hex[:8].upper()}")
    return env


async def test_concurrent_runs_for_one_account_create_one_customer(
    sandbox_run: Run, admin: httpx.Client
) -> None:
    """Issue 15 item 5: the customer's idempotency key is the account's, not the workflow's."""
    run = sandbox_run
    account = f"ACC-{uuid.uuid4().hex[:6]}"
    ensure = EnsureCustomerInput(
        crm_account_id=account, name="Acme GmbH", email="ap@acme.example", currency="EUR"
    )
    envs = [run.env, *(_other_run(run) for _ in range(3))]
    found = await asyncio.gather(
        *(env.run(run.activities.find_or_create_customer, ensure) for env in envs)
    )
    assert len({c.id for c in found}) == 1
    ledger = admin.get("/_admin/ledger", params={"system": "billing"}).json()["records"]
    assert [r["id"] for r in ledger if r["kind"] == "customer"] == [found[0].id]


async def test_a_run_never_undoes_another_runs_invoice(sandbox_run: Run) -> None:
    """Issue 15 item 4: void and finalize match the run's own metadata, not the number alone."""
    run = sandbox_run
    number = f"INV-{uuid.uuid4().hex[:8].upper()}"
    ensure = EnsureCustomerInput(
        crm_account_id="ACC-X", name="Acme GmbH", email="ap@acme.example", currency="EUR"
    )
    customer = await run.env.run(run.activities.find_or_create_customer, ensure)
    mine = await run.env.run(run.activities.create_invoice, _invoice_input(customer.id, number))
    other = _other_run(run)
    undone = await other.run(run.activities.void_invoice, InvoiceNumberRef(number=number))
    assert not undone.undone
    assert await other.run(run.activities.get_invoice, InvoiceNumberRef(number=number)) is None
    still = await run.env.run(run.activities.get_invoice, InvoiceNumberRef(number=number))
    assert still is not None and (still.id, still.status) == (mine.id, "draft")


async def test_runs_that_read_the_account_differently_still_share_its_customer(
    sandbox_run: Run, admin: httpx.Client
) -> None:
    """The account was renamed between two runs' reads: the second create reuses the account's
    key with another body (Stripe's `idempotency_error`), and finds the first one's customer."""
    run, account = sandbox_run, f"ACC-{uuid.uuid4().hex[:6]}"
    names = ["Acme GmbH", "Acme Holding GmbH", "ACME"]
    found = await asyncio.gather(
        *(
            _other_run(run).run(
                run.activities.find_or_create_customer,
                EnsureCustomerInput(
                    crm_account_id=account, name=name, email="ap@acme.example", currency="EUR"
                ),
            )
            for name in names
        )
    )
    assert len({c.id for c in found}) == 1
    ledger = admin.get("/_admin/ledger", params={"system": "billing"}).json()["records"]
    assert [r["id"] for r in ledger if r["kind"] == "customer"] == [found[0].id]


def _tax_rate_lists(run: Run) -> int:
    return sum(
        1 for method, path, _ in run.requests() if (method, path) == ("GET", "/v1/tax_rates")
    )


async def test_a_worker_looks_its_tax_rates_up_once_not_per_invoice(sandbox_run: Run) -> None:
    """The rate ids a worker found serve its next invoices (one rate list, not one per invoice),
    and each invoice still carries the tax."""
    run = sandbox_run
    ensure = EnsureCustomerInput(
        crm_account_id="ACC-T", name="Acme GmbH", email="ap@acme.example", currency="EUR"
    )
    customer = await run.env.run(run.activities.find_or_create_customer, ensure)
    numbers = [f"INV-{uuid.uuid4().hex[:8].upper()}" for _ in range(3)]
    drafts = [
        await env.run(run.activities.create_invoice, _invoice_input(customer.id, number))
        for env, number in zip([run.env, _other_run(run), _other_run(run)], numbers, strict=True)
    ]
    assert [d.total_cents for d in drafts] == [12 * 25_000 * 119 // 100 + 99_950] * 3
    assert _tax_rate_lists(run) == 1


async def test_a_tax_rate_billing_no_longer_has_is_looked_up_again(
    sandbox_run: Run, admin: httpx.Client
) -> None:
    """Billing lost the rate the worker kept (here: the sandbox was reset): the refused line is
    sent again once with the rate found or created anew, and the invoice is taxed as before."""
    run = sandbox_run
    ensure = EnsureCustomerInput(
        crm_account_id="ACC-T", name="Acme GmbH", email="ap@acme.example", currency="EUR"
    )
    first = await run.env.run(run.activities.find_or_create_customer, ensure)
    await run.env.run(run.activities.create_invoice, _invoice_input(first.id, "INV-KEPT-1"))
    admin.post("/_admin/reset").raise_for_status()
    seed_credentials(admin)
    customer = await run.env.run(run.activities.find_or_create_customer, ensure)
    draft = await _other_run(run).run(
        run.activities.create_invoice, _invoice_input(customer.id, "INV-KEPT-2")
    )
    assert draft.total_cents == 12 * 25_000 * 119 // 100 + 99_950
    refused = [r for r in _refused(run.requests()) if r[1] == "/v1/invoiceitems"]
    assert [status for _, _, status in refused] == [404]
    assert _tax_rate_lists(run) == 2
    rates = admin.get("/_admin/ledger", params={"system": "billing"}).json()["records"]
    assert len([r for r in rates if r["kind"] == "tax_rate"]) == 1
