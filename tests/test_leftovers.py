"""A test's runs end with it: what it started and left running is terminated, nothing else
(`runs_end_with_their_test` in tests/conftest.py)."""

from datetime import UTC, datetime

from temporalio.client import WorkflowExecutionStatus

from tests.helpers import start, status, terminate_runs_started_since, wait_for

WAITS_FOR_APPROVAL = {"vendor_type": "contractor", "payment_terms": "net15"}


async def test_runs_started_since_a_moment_are_terminated_and_older_ones_kept(client, settings):
    older = await start(client, settings, **WAITS_FOR_APPROVAL)
    await wait_for(lambda: _pending(older), what="the older run's approval")
    since = datetime.now(UTC)
    mine = await start(client, settings, **WAITS_FOR_APPROVAL)
    await wait_for(lambda: _pending(mine), what="the test's run's approval")
    await wait_for(lambda: _listed(client, mine.id), what="the run in visibility")

    ended = await terminate_runs_started_since(client, since)

    assert mine.id in ended and older.id not in ended
    assert (await mine.describe()).status == WorkflowExecutionStatus.TERMINATED
    assert (await older.describe()).status == WorkflowExecutionStatus.RUNNING
    await older.terminate(reason="test done")


_LEFT_RUNNING: list[str] = []


async def test_a_test_that_leaves_a_run_waiting(client, settings):
    handle = await start(client, settings, **WAITS_FOR_APPROVAL)
    await wait_for(lambda: _pending(handle), what="the run's approval")
    await wait_for(lambda: _listed(client, handle.id), what="the run in visibility")
    _LEFT_RUNNING.append(handle.id)


async def test_the_next_test_finds_that_run_terminated(client):
    """Runs right after the one above (file order): its teardown ended the run it left."""
    assert _LEFT_RUNNING, "the test above did not run first"
    described = await client.get_workflow_handle(_LEFT_RUNNING[0]).describe()
    assert described.status == WorkflowExecutionStatus.TERMINATED


async def _pending(handle) -> bool:
    return (await status(handle)).pending_approval is not None


async def _listed(client, workflow_id: str) -> bool:
    return [w async for w in client.list_workflows(f'WorkflowId = "{workflow_id}"')] != []
