"""A test's runs end with it: what it started and left running is terminated, nothing else."""

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


async def _pending(handle) -> bool:
    return (await status(handle)).pending_approval is not None


async def _listed(client, workflow_id: str) -> bool:
    return [w async for w in client.list_workflows(f'WorkflowId = "{workflow_id}"')] != []
