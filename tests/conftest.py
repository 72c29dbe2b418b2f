"""The real stack, started once per test run, and the clients tests reach it with.

A component that cannot start is a test ERROR whose message says what to install; never a skip.
"""

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from temporalio.client import Client

from chaos.smtp_proxy import SmtpProxy
from devstack.mailbox import Mailbox
from devstack.stack import Stack
from runtime.settings import Settings, load_settings
from runtime.temporal import connect
from tests import reaper
from tests.helpers import close_breakers, terminate_runs_started_since
from tests.invoicing import Crm
from tests.postgres import PostgresServer, PostgresUnavailable
from tests.screenshots import Screenshots
from tests.smtp_relay import SmtpProxyThread
from tests.stack import (
    SHORT_APPROVAL_TIMEOUTS,
    SHORT_KEY_ROTATION,
    free_port_config,
    start_stack,
    worker_wanted,
)


@pytest.fixture(scope="session", autouse=True)
def nothing_outlives_the_run() -> None:
    """What runs that are gone left running is stopped; what this run starts ends with it."""
    reaper.reap_orphans()
    reaper.claim_this_run()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for the whole run, stopped and deleted at the end."""
    try:
        server = PostgresServer()
        server.start()
    except PostgresUnavailable as exc:
        pytest.fail(f"the test PostgreSQL server did not start:\n{exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def smtp_relay() -> Iterator[SmtpProxyThread]:
    relay = SmtpProxyThread()
    try:
        yield relay
    finally:
        relay.close()


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: PostgresServer,
    smtp_relay: SmtpProxyThread,
) -> Iterator[Stack]:
    """One stack for the whole run (worker included unless BACKOFFICE_TEST_WORKER=0), with the
    app's and the sandbox's databases on the test PostgreSQL server, and mail sent through
    `smtp_relay` to its mailpit.

    Sets the process environment so `load_settings()` and `runtime.temporal.connect()` find it.
    """
    config = free_port_config(
        tmp_path_factory.mktemp("stack"),
        with_worker=worker_wanted(),
        extra_env={
            **SHORT_APPROVAL_TIMEOUTS,
            **SHORT_KEY_ROTATION,
            "BACKOFFICE_SMTP_PORT": str(smtp_relay.port),
        },
        database_url=postgres.create_database("backoffice"),
        sandbox_database_url=postgres.create_database("sandbox"),
    )
    running = start_stack(config)
    smtp_relay.point_at(running.addresses.smtp or "")
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("BACKOFFICE_ENV_FILE", str(running.env_file))
            for key, value in running.client_env().items():
                env.setenv(key, value)
            yield running
    finally:
        running.down()


@pytest.fixture(scope="session")
def settings(stack: Stack) -> Settings:
    """The settings a client process of this stack reads (env file + environment)."""
    return load_settings()


@pytest.fixture(scope="session")
async def client(stack: Stack) -> AsyncIterator[Client]:
    """A Temporal client of this stack, with the project's data converter."""
    yield await connect()


@pytest.fixture(scope="session")
def crm(stack: Stack) -> Crm:
    """CRM accounts and deals to invoice, set up in the sandbox the way the demo does."""
    return Crm(stack)


@pytest.fixture
async def runs_of_this_test(client: Client) -> AsyncIterator[None]:
    """The runs started while the test runs are terminated when it ends."""
    since = datetime.now(UTC)
    yield
    await terminate_runs_started_since(client, since)


@pytest.fixture(autouse=True)
def runs_end_with_their_test(request: pytest.FixtureRequest) -> None:
    """Every test on the session stack leaves no run of its own running (set up from here, a
    plain fixture, so the async one runs in the session's event loop, never inside another)."""
    if "stack" in request.fixturenames:
        request.getfixturevalue("runs_of_this_test")


@pytest.fixture
def admin(stack: Stack, settings: Settings) -> Iterator[httpx.Client]:
    """The sandbox's admin API (faults, ledger, credentials); faults set by a test end with it,
    and so do the circuit breakers they opened."""
    with stack.sandbox_admin() as http:
        yield http
        http.delete("/_admin/faults").raise_for_status()
        close_breakers(settings)


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Screenshots:
    """Where the browser tests' screenshots go (to docs/ only when asked: tests.screenshots)."""
    return Screenshots(tmp_path_factory.mktemp("screenshots"))


@pytest.fixture
def mailbox(stack: Stack, smtp_relay: SmtpProxyThread) -> Iterator[Mailbox]:
    """The test stack's mailpit (every email sent); SMTP faults set by a test end with it."""
    box = Mailbox(stack.mailpit_url)
    yield box
    box.clear_faults()
    smtp_relay.proxy.clear()


@pytest.fixture
def smtp_proxy(smtp_relay: SmtpProxyThread) -> Iterator[SmtpProxy]:
    """The proxy between the worker and mailpit: its faults (slow, dropped after DATA, a
    recipient refused) end with the test."""
    yield smtp_relay.proxy
    smtp_relay.proxy.clear()


@pytest.fixture
def cli_env(stack: Stack) -> dict[str, str]:
    """The environment for running the `backoffice` CLI as a subprocess against this stack."""
    return {**os.environ, "BACKOFFICE_ENV_FILE": str(stack.env_file), **stack.client_env()}
