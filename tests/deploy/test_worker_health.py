"""The worker's health check of docker-compose.yml (`backoffice deploy worker-health`) against
the stack's real Temporal server and worker: healthy while a worker on this host polls, and
unhealthy (with the reason) for a host or a task queue no worker polls."""

import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from deploy.worker_health import polls_from
from domain.systems import WORKFLOW_TASK_QUEUE


async def test_the_stacks_worker_polls_from_this_host(stack, client):
    assert await polls_from(client, WORKFLOW_TASK_QUEUE, socket.gethostname()) is None


async def test_a_host_without_a_worker_is_reported(stack, client):
    problem = await polls_from(client, WORKFLOW_TASK_QUEUE, "replica-that-died.invalid")

    assert problem is not None
    assert f"no worker on replica-that-died.invalid polls {WORKFLOW_TASK_QUEUE}" in problem


def _health_check(*arguments: str) -> subprocess.CompletedProcess[str]:
    """The command the compose file's health check runs, with the stack's TEMPORAL_* env."""
    return subprocess.run(
        [sys.executable, "-m", "backoffice.cli", "deploy", "worker-health", *arguments],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_health_check_command_passes_while_the_worker_polls(stack):
    done = _health_check()

    assert done.returncode == 0, done.stderr
    assert "healthy: polling" in done.stdout


def test_the_health_check_command_fails_for_a_queue_nobody_polls(stack):
    done = _health_check("--task-queue", "no-worker-polls-this-queue")

    assert done.returncode == 1
    assert "unhealthy: no worker on" in done.stderr


def test_the_health_check_command_never_crashes_on_exit(stack):
    """The Temporal client's threads could abort Python while it tore down after the command
    (temporalio/sdk-python#300; 2 runs in 40 here, exit -6 instead of 1): the command now exits
    without teardown. Many runs, so a crash of a few per cent would show."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda _: _health_check("--task-queue", "nobody"), range(24)))

    assert [done.returncode for done in runs] == [1] * len(runs)
    assert all("Fatal Python error" not in done.stderr for done in runs)


def test_the_health_check_command_fails_when_temporal_is_not_there(stack):
    env = {**os.environ, "TEMPORAL_ADDRESS": "127.0.0.1:9"}
    done = subprocess.run(
        [sys.executable, "-m", "backoffice.cli", "deploy", "worker-health"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 1
    assert done.stderr.startswith("unhealthy: ")
