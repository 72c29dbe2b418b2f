"""The worker's health check in docker-compose.yml: healthy while the worker of this container
polls the workflow task queue, as Temporal itself lists the queue's pollers. A replica that
lost Temporal, or never got as far as polling, shows as unhealthy in `docker compose ps`."""

from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

# A worker polls again as soon as a long poll ends (about a minute at most), so its entry in
# the poller list is never older than that while it runs.
RECENT = timedelta(seconds=90)


async def polling_pollers(client: Client, task_queue: str) -> dict[str, datetime]:
    """Identity -> last poll of each worker polling `task_queue` for workflow tasks."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ),
        timeout=timedelta(seconds=10),
    )
    return {
        poller.identity: poller.last_access_time.ToDatetime(tzinfo=UTC)
        for poller in response.pollers
    }


async def polls_from(
    client: Client, task_queue: str, hostname: str, *, within: timedelta = RECENT
) -> str | None:
    """None when a worker on `hostname` (the SDK's identity is `<pid>@<hostname>`) polled
    `task_queue` within `within`; else what is wrong."""
    pollers = await polling_pollers(client, task_queue)
    now = datetime.now(UTC)
    ours = [seen for identity, seen in pollers.items() if identity.endswith(f"@{hostname}")]
    if any(now - seen <= within for seen in ours):
        return None
    if ours:
        return f"the worker on {hostname} last polled {task_queue} at {max(ours):%H:%M:%S} UTC"
    return f"no worker on {hostname} polls {task_queue} ({len(pollers)} other pollers)"
