"""`backoffice demo --interactive`, as the README has it, up to the point where it waits for a
person: it names the approver and the inbox, the run it names waits for that approval, and the
inbox answers. (The demo is then stopped, its stack taken down.)"""

import os
import re
import signal
import subprocess
import sys
from typing import Any

import httpx
import pytest

from devstack.config import StackConfig
from devstack.stack import Stack
from tests.helpers import line_from

pytestmark = pytest.mark.timeout(420)


def test_the_interactive_demo_waits_for_a_person_in_the_inbox(tmp_path):
    data_dir = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKOFFICE_", "TEMPORAL_"))}
    demo = subprocess.Popen(
        [sys.executable, "-m", "backoffice.cli", "demo", "--interactive",
         "--data-dir", str(data_dir), "--any-ports"],
        env=env | {"PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        bufsize=0,
    )  # fmt: skip
    try:
        line = line_from(demo, "in the inbox: ", timeout=300)
        found = re.search(r"(\S+)\s+waiting for (\w+) to (\w+) in the inbox: (\S+)", line)
        assert found, line
        workflow_id, approver, decision, inbox = found.groups()
        assert decision in ("approve", "reject") and inbox.endswith("/inbox")

        stack = Stack(StackConfig(data_dir=data_dir))  # the demo's, read from its data dir
        status = _status(stack, workflow_id)
        assert status["pending_approval"] is not None, status
        sign_in = httpx.get(inbox, follow_redirects=True, timeout=30)
        assert sign_in.status_code == 200 and "Approver id" in sign_in.text
        assert approver in stack.credentials()["approvers"]
        assert demo.poll() is None, "the demo stopped instead of waiting"
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait(timeout=10)
        Stack(StackConfig(data_dir=data_dir)).down()


def _status(stack: Stack, workflow_id: str) -> dict[str, Any]:
    token = stack.credentials()["api_clients"]["svc-onboarding"]
    answer = httpx.get(
        f"{stack.api_url}/v1/workflows/{workflow_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())
