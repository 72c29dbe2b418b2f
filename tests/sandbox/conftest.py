"""Runs the sandbox as a real process (``python -m sandbox`` under uvicorn) for the tests.

Each test module gets one process on its own SQLite file; the modules in ``POSTGRES_TOO`` run a
second time on a fresh database of the test run's PostgreSQL server. Every test starts from a
reset sandbox with known credentials and talks to it over real HTTP with httpx.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.postgres import PostgresServer
from tests.sandbox.receiver import WebhookReceiver

REPO = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "test-admin-token"
ERP_USER = "erp-service"
ERP_PASSWORD = "erp-password"
PORTAL_KEY = "portal-key-1"
BILLING_KEY = "billing-key-1"
ESIGN_KEY = "esign-key-1"
ENRICHMENT_KEY = "enrichment-key-1"
SLACK_TOKEN = "xoxb-sandbox-test"
CRM_CLIENT_ID = "backoffice-worker"
CRM_CLIENT_SECRET = "crm-client-secret"
WEBHOOK_SYSTEMS = ("crm", "billing", "esign")

# The modules that also run on PostgreSQL (the rest on SQLite only, to keep the run short): those
# leaning on the database most (unique keys and sequences under concurrent retries, idempotency
# records, the ledger, stored tokens). The whole stack runs on PostgreSQL in the other tests.
# SANDBOX_TEST_DATABASE_URL set: every module runs once, on that database.
POSTGRES_TOO = frozenset(
    {
        "test_billing",
        "test_crm_auth",
        "test_erp",
        "test_esign",
        "test_idempotency",
        "test_ledger",
        "test_portal",
    }
)
DATABASES = ("sqlite", "postgresql")
_database_numbers = itertools.count(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SandboxProcess:
    """One ``python -m sandbox`` process on a database URL; start and stop it at will."""

    def __init__(self, database_url: str, log_path: Path) -> None:
        self.database_url = database_url
        self.log_path = log_path
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> None:
        env = {**os.environ, "SANDBOX_ADMIN_TOKEN": ADMIN_TOKEN}
        command = [sys.executable, "-m", "sandbox", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--database-url", self.database_url]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"sandbox exited early:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.base_url}/_admin/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"sandbox did not answer in {timeout}s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None


def client(base_url: str, **kwargs: object) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=10, **kwargs)  # type: ignore[arg-type]


def seed_credentials(admin: httpx.Client) -> None:
    seeds = {
        "erp": {"username": ERP_USER, "password": ERP_PASSWORD},
        "portal": {"api_keys": [PORTAL_KEY]},
        "billing": {"api_keys": [BILLING_KEY]},
        "esign": {"api_keys": [ESIGN_KEY]},
        "enrichment": {"api_keys": [ENRICHMENT_KEY]},
        "crm": {"client_id": CRM_CLIENT_ID, "client_secret": CRM_CLIENT_SECRET},
        "slack": {"api_keys": [SLACK_TOKEN]},
    }
    for system, credentials in seeds.items():
        admin.put(f"/_admin/credentials/{system}", json=credentials).raise_for_status()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rpartition(".")[2]
    if (
        "sandbox_database_url" in metafunc.fixturenames
        and module in POSTGRES_TOO
        and not os.environ.get("SANDBOX_TEST_DATABASE_URL")
    ):
        metafunc.parametrize("sandbox_database_url", DATABASES, indirect=True, scope="module")


def new_database(request: pytest.FixtureRequest, kind: str, folder: Path) -> str:
    """The URL of a fresh database: a SQLite file in ``folder``, or a new database on the test
    run's PostgreSQL server."""
    if kind == "postgresql":
        postgres: PostgresServer = request.getfixturevalue("postgres")
        return postgres.create_database(f"sandbox_test_{next(_database_numbers)}")
    return f"sqlite:///{folder / 'sandbox.db'}"


@pytest.fixture(scope="module")
def sandbox_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """``SANDBOX_TEST_DATABASE_URL`` when set; else a fresh SQLite file, or a fresh PostgreSQL
    database on a ``POSTGRES_TOO`` module's second run."""
    configured = os.environ.get("SANDBOX_TEST_DATABASE_URL")
    if configured:
        return configured
    kind = getattr(request, "param", "sqlite")
    return new_database(request, kind, tmp_path_factory.mktemp("sandbox-db"))


@pytest.fixture(params=DATABASES)
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database for a test that starts its own sandbox: SQLite, then PostgreSQL."""
    return new_database(request, request.param, tmp_path)


@pytest.fixture(scope="module")
def sandbox(
    sandbox_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SandboxProcess]:
    """The sandbox process of this module, on ``sandbox_database_url``."""
    folder = tmp_path_factory.mktemp("sandbox")
    process = SandboxProcess(sandbox_database_url, folder / "sandbox.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def admin(sandbox: SandboxProcess) -> Iterator[httpx.Client]:
    """An admin client on a freshly reset sandbox with the standard credentials.

    Webhook targets survive a reset, so they are removed here: each test sets its own.
    """
    with client(sandbox.base_url, headers={"X-Admin-Token": ADMIN_TOKEN}) as admin_client:
        for system in WEBHOOK_SYSTEMS:
            admin_client.delete(f"/_admin/webhooks/{system}").raise_for_status()
        admin_client.post("/_admin/reset").raise_for_status()
        seed_credentials(admin_client)
        yield admin_client


@pytest.fixture
def anonymous(sandbox: SandboxProcess, admin: httpx.Client) -> Iterator[httpx.Client]:
    with client(sandbox.base_url) as anonymous_client:
        yield anonymous_client


@pytest.fixture
def erp(sandbox: SandboxProcess, admin: httpx.Client) -> Iterator[httpx.Client]:
    with client(sandbox.base_url, auth=(ERP_USER, ERP_PASSWORD)) as erp_client:
        yield erp_client


@pytest.fixture
def portal(sandbox: SandboxProcess, admin: httpx.Client) -> Iterator[httpx.Client]:
    with client(sandbox.base_url, headers={"X-Api-Key": PORTAL_KEY}) as portal_client:
        yield portal_client


@pytest.fixture
def billing(sandbox: SandboxProcess, admin: httpx.Client) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {BILLING_KEY}"}
    with client(sandbox.base_url, headers=headers) as billing_client:
        yield billing_client


@pytest.fixture
def esign(sandbox: SandboxProcess, admin: httpx.Client) -> Iterator[httpx.Client]:
    with client(sandbox.base_url, headers={"X-Api-Key": ESIGN_KEY}) as esign_client:
        yield esign_client


@pytest.fixture
def enrichment(sandbox: SandboxProcess, admin: httpx.Client) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {ENRICHMENT_KEY}"}
    with client(sandbox.base_url, headers=headers) as enrichment_client:
        yield enrichment_client


def crm_token(
    base: httpx.Client, client_id: str = CRM_CLIENT_ID, secret: str = CRM_CLIENT_SECRET
) -> str:
    """An access token from the CRM's token endpoint (client in the form)."""
    response = base.post(
        "/crm/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def crm(sandbox: SandboxProcess, admin: httpx.Client) -> Iterator[httpx.Client]:
    """A CRM client holding a fresh access token."""
    with client(sandbox.base_url) as crm_client:
        crm_client.headers["Authorization"] = f"Bearer {crm_token(crm_client)}"
        yield crm_client


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as webhook_receiver:
        yield webhook_receiver


def error_of(response: httpx.Response) -> dict[str, str]:
    """The ``error`` object of a JSON error answer, asserting the shape on the way."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    return dict(body["error"])


def events(admin: httpx.Client, system: str | None = None) -> list[dict[str, Any]]:
    params = {} if system is None else {"system": system}
    response = admin.get("/_admin/ledger", params=params)
    response.raise_for_status()
    return list(response.json()["events"])


def actions(admin: httpx.Client, system: str | None = None) -> list[str]:
    return [str(event["action"]) for event in events(admin, system)]
