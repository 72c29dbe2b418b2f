"""Worker Versioning: every worker process is one version of the Worker Deployment
`BACKOFFICE_WORKER_DEPLOYMENT_NAME`, its build id `BACKOFFICE_WORKER_BUILD_ID` (else the package
version). Each workflow type says whether its runs stay on the version that started them or move
to the current one (its `versioning_behavior`; docs/deploying.md says which and why).

New runs go to the deployment's current version, so a version must be made current: a starting
worker does it itself when `BACKOFFICE_WORKER_BECOME_CURRENT` says so (`first`: only when the
deployment has no current version yet; `always`; `never`: the operator does it with
`temporal worker deployment set-current-version`).
"""

import asyncio
import logging
from collections.abc import Collection
from importlib.metadata import version as package_version

from temporalio.api.deployment.v1 import WorkerDeploymentVersion as VersionMessage
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    DescribeWorkerDeploymentVersionRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import WorkerDeploymentConfig

from runtime.settings import Settings

log = logging.getLogger("backoffice.worker")

# How long a starting worker waits for all its task queues to join its version (the server adds
# a queue when its first poller arrives: a second or two).
_JOIN_TIMEOUT_SECONDS = 60.0
_POLL_SECONDS = 0.5


def deployment_version(settings: Settings) -> WorkerDeploymentVersion:
    """This process's version of the worker deployment."""
    build_id = settings.worker_build_id or package_version("backoffice")
    return WorkerDeploymentVersion(settings.worker_deployment_name, build_id)


def deployment_config(
    settings: Settings, default: VersioningBehavior = VersioningBehavior.UNSPECIFIED
) -> WorkerDeploymentConfig:
    """The versioning options of every worker of the process (each workflow type sets its own
    behaviour; `default` is for activity-only workers, which have no workflows)."""
    return WorkerDeploymentConfig(
        version=deployment_version(settings),
        use_worker_versioning=True,
        default_versioning_behavior=default,
    )


async def become_current(client: Client, settings: Settings, task_queues: Collection[str]) -> str:
    """Wait until every one of `task_queues` has joined this version, then make it current if
    the setting says so; returns what was done, for the log."""
    version = deployment_version(settings)
    await _wait_until_joined(client, version, task_queues)
    if settings.worker_become_current == "never":
        return f"version {version.build_id} left as it is (BACKOFFICE_WORKER_BECOME_CURRENT=never)"
    service, namespace = client.workflow_service, client.namespace
    described = await service.describe_worker_deployment(
        DescribeWorkerDeploymentRequest(
            namespace=namespace, deployment_name=version.deployment_name
        )
    )
    current = described.worker_deployment_info.routing_config.current_deployment_version
    if current.build_id == version.build_id:
        return f"version {version.build_id} is current"
    if current.build_id and settings.worker_become_current == "first":
        return (
            f"version {version.build_id} waits: {current.build_id} is current "
            f"(promote with `temporal worker deployment set-current-version`)"
        )
    try:
        await service.set_worker_deployment_current_version(
            SetWorkerDeploymentCurrentVersionRequest(
                namespace=namespace,
                deployment_name=version.deployment_name,
                build_id=version.build_id,
                conflict_token=described.conflict_token,
                identity=client.identity,
            )
        )
    except RPCError:
        # Another replica of this version may have won the race (the conflict token changed).
        if await _current_build_id(client, version.deployment_name) != version.build_id:
            raise
        return f"version {version.build_id} is current (made so by another worker)"
    return f"version {version.build_id} made current (was {current.build_id or 'none'})"


async def _current_build_id(client: Client, deployment_name: str) -> str:
    described = await client.workflow_service.describe_worker_deployment(
        DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment_name)
    )
    return described.worker_deployment_info.routing_config.current_deployment_version.build_id


async def _wait_until_joined(
    client: Client, version: WorkerDeploymentVersion, task_queues: Collection[str]
) -> None:
    request = DescribeWorkerDeploymentVersionRequest(
        namespace=client.namespace,
        deployment_version=VersionMessage(
            deployment_name=version.deployment_name, build_id=version.build_id
        ),
    )
    deadline = asyncio.get_running_loop().time() + _JOIN_TIMEOUT_SECONDS
    missing = set(task_queues)
    while True:
        try:
            described = await client.workflow_service.describe_worker_deployment_version(request)
            joined = {q.name for q in described.worker_deployment_version_info.task_queue_infos}
            missing = set(task_queues) - joined
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:  # not created before the first poll
                raise
        if not missing:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(
                f"task queues {', '.join(sorted(missing))} did not join worker deployment "
                f"version {version.deployment_name}:{version.build_id}"
            )
        await asyncio.sleep(_POLL_SECONDS)
