"""A step that keeps failing is shown while it is retried: `Stage` retrying and the step in
`status`, until it succeeds."""

import asyncio

from domain.contract import STAGE
from tests.helpers import start, status, wait_for


async def _stage(handle) -> list[str]:
    return list((await handle.describe()).search_attributes.get(STAGE.name, []))


async def _retrying(handle) -> bool:
    return await _stage(handle) == ["retrying"]


async def test_a_step_that_keeps_failing_shows_retrying_until_it_succeeds(client, settings, admin):
    admin.put(
        "/_admin/faults/erp", json={"path": "/vendors$", "method": "POST", "status": 503}
    ).raise_for_status()
    handle = await start(client, settings)
    await wait_for(lambda: _retrying(handle), what="Stage retrying")
    shown = await status(handle)
    assert shown.retrying is not None
    assert "erp.create_vendor" in shown.retrying and "attempt 3" in shown.retrying

    admin.delete("/_admin/faults").raise_for_status()
    await asyncio.wait_for(handle.result(), 90)
    assert (await status(handle)).retrying is None
    assert await _stage(handle) == ["completed"]
