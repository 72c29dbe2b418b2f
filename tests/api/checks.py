"""What the API tests check again and again: nothing was started, a status, an error body."""

from typing import Any

import httpx
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode


async def assert_not_started(client: Client, workflow_id: str) -> None:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        assert exc.status == RPCStatusCode.NOT_FOUND, exc
        return
    raise AssertionError(f"{workflow_id} was started although the request was refused")


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The `error` object of a response that must be `status` with `code`."""
    assert response.status_code == status, (response.status_code, response.text)
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"]
    return error
