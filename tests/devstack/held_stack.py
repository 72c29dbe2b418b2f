"""Not collected by the suite (no `test_` prefix): `test_killed_run.py` runs this file in a
pytest of its own, which starts the session stack, says what runs, and waits to be killed."""

import json
import os
import time

import pytest

from tests import reaper


@pytest.mark.timeout(0)
def test_hold_the_stack_until_killed(stack, postgres):
    pids = {name: row["pid"] for name, row in stack.status().items() if row["pid"]}
    held = {
        "mark": os.environ[reaper.OWNER_ENV],
        "pids": pids,
        "postgres": str(postgres.root),
        "watchdog": reaper.watchdog_pid(),
    }
    print(f"HELD {json.dumps(held)}", flush=True)
    time.sleep(3600)
