"""A test run killed mid-suite (SIGKILL: no teardown runs) leaves none of its processes
running: not its stack's Temporal, OpenBao, sandbox, API or worker, nor its PostgreSQL. Its
watchdog stops them; when the watchdog was killed too, the next run's start does."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devstack.paths import project_root
from tests import reaper
from tests.helpers import line_from, wait_for

HELD = Path(__file__).with_name("held_stack.py")

pytestmark = pytest.mark.timeout(420)


@pytest.mark.parametrize("stopped_by", ["watchdog", "next-run"])
async def test_a_killed_test_run_leaves_nothing_of_its_stack_running(tmp_path, stopped_by):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BACKOFFICE_", "TEMPORAL_")) and k != reaper.OWNER_ENV
    }
    runner = subprocess.Popen(
        [sys.executable, "-m", "pytest", str(HELD), "-q", "-s", "-p", "no:cacheprovider",
         "--basetemp", str(tmp_path / "run")],
        cwd=project_root(),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        bufsize=0,  # unbuffered: select() then sees every line that arrived
    )  # fmt: skip
    held: dict[str, Any] = {}
    try:
        line = line_from(runner, "HELD ", timeout=300)
        held = dict(json.loads(line.removeprefix("HELD ")))
        mark, postgres = held["mark"], Path(held["postgres"])
        # The positive control: every component, and PostgreSQL, runs and is found by its mark.
        owned = set(reaper.owned_processes(mark))
        assert set(held["pids"]) >= {"temporal", "vault", "sandbox", "api", "worker"}, held
        assert set(held["pids"].values()) <= owned, (held, owned)
        assert reaper.postgres_dirs(mark) == [postgres]
        assert reaper.postmaster_of(postgres) is not None

        if stopped_by == "next-run":
            os.kill(held["watchdog"], signal.SIGKILL)
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait(timeout=10)
        if stopped_by == "next-run":
            assert reaper.owned_processes(mark), "nothing left for the next run to stop"
            assert mark in reaper.reap_orphans()  # what the next run does first

        await wait_for(
            lambda: not reaper.owned_processes(mark) and not postgres.exists(),
            timeout=60,
            what="the killed run's processes to be stopped",
        )
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(timeout=10)
        if held:
            reaper.reap(held["mark"])
