"""The HTTP API of the session stack (started by devstack with the rest), and its credentials."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from devstack.stack import Stack


@pytest.fixture(scope="session")
def credentials(stack: Stack) -> dict[str, Any]:
    """The demo credentials the dev stack seeded: service tokens and approver passwords."""
    return stack.credentials()


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the running API (no credential unless a request adds one)."""
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60, trust_env=False) as http:
        yield http


@pytest.fixture
def service(credentials):
    """`service("svc-onboarding")`: the headers of that service client."""

    def headers(client_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {credentials['api_clients'][client_id]}"}

    return headers


@pytest.fixture
def approver(credentials):
    """`approver("pat")`: HTTP Basic auth as that approver."""

    def auth(approver_id: str) -> httpx.BasicAuth:
        return httpx.BasicAuth(approver_id, credentials["approvers"][approver_id])

    return auth
