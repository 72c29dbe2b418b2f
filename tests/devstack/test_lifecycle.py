"""A stack of its own: Temporal restarts, down then up, and what survives them."""

import os
import signal
import time
import uuid
from email.message import EmailMessage

import aiosmtplib
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from devstack.mailbox import Mailbox
from tests.devstack.procs import processes_using
from tests.devstack.vault_helpers import read
from tests.stack import free_port_config, start_stack

# Nobody polls this queue: the workflow stays RUNNING until the server loses it.
IDLE_QUEUE = "devstack-nobody-polls"


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory):
    stack = start_stack(free_port_config(tmp_path_factory.mktemp("lifecycle")))
    yield stack
    stack.down()


async def _start_idle_workflow(address: str) -> str:
    client = await Client.connect(address)
    workflow_id = f"devstack-probe-{uuid.uuid4().hex[:8]}"
    await client.start_workflow("DevstackProbe", id=workflow_id, task_queue=IDLE_QUEUE)
    return workflow_id


async def _status_of(address: str, workflow_id: str) -> WorkflowExecutionStatus | None:
    client = await Client.connect(address)
    return (await client.get_workflow_handle(workflow_id).describe()).status


def _open_portal_account(stack, key: str) -> None:
    portal_key = read(stack.vault_root(), "backoffice/systems/portal")["api_key"]
    with stack.sandbox_admin() as http:
        opened = http.post(
            "/portal/accounts",
            headers={"X-Api-Key": portal_key, "Idempotency-Key": key},
            json={
                "external_ref": key,
                "vendor_id": "V-000001",
                "display_name": "Probe",
                "contact_email": "pat@company.example",
            },
        )
    assert opened.status_code == 201, opened.text


async def _send_smtp(stack, subject: str) -> None:
    """One email to mailpit with the SMTP login seeded in Vault (refused without it)."""
    login = read(stack.vault_root(), "backoffice/systems/mail")
    host, _, port = (stack.addresses.smtp or "").rpartition(":")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@company.example", "b@x.example", subject
    message.set_content("probe")
    async with aiosmtplib.SMTP(hostname=host, port=int(port), start_tls=False) as smtp:
        await smtp.login(login["username"], login["password"])
        await smtp.send_message(message)


def _portal_accounts(stack, portal_key: str) -> tuple[int, list[str]]:
    with stack.sandbox_admin() as http:
        answer = http.get("/portal/accounts", headers={"X-Api-Key": portal_key})
    if answer.status_code != 200:
        return answer.status_code, []
    return 200, [a["external_ref"] for a in answer.json()["accounts"]]


async def test_restart_temporal_keeps_a_running_workflow(own_stack):
    workflow_id = await _start_idle_workflow(own_stack.temporal_address)
    pid_before = own_stack.status()["temporal"]["pid"]

    own_stack.restart_temporal()

    assert own_stack.status()["temporal"]["pid"] != pid_before
    status = await _status_of(own_stack.temporal_address, workflow_id)
    assert status == WorkflowExecutionStatus.RUNNING


async def test_down_then_up_keeps_workflows_and_sandbox_records(own_stack):
    workflow_id = await _start_idle_workflow(own_stack.temporal_address)
    probe = f"probe-{uuid.uuid4().hex}"
    _open_portal_account(own_stack, probe)
    await _send_smtp(own_stack, probe)
    old_portal_key = read(own_stack.vault_root(), "backoffice/systems/portal")["api_key"]
    addresses = own_stack.addresses

    stopped = own_stack.down()

    assert stopped == ["api", "mailpit", "sandbox", "vault", "temporal-ui", "temporal"]
    rows = own_stack.status()
    assert not any(row["running"] for row in rows.values()), rows
    assert rows["worker"]["enabled"] is False
    assert not own_stack.env_file.exists()
    assert processes_using(own_stack.data_dir) == []

    assert own_stack.up() == addresses  # port 0 reuses the last run's ports when free

    status = await _status_of(own_stack.temporal_address, workflow_id)
    assert status == WorkflowExecutionStatus.RUNNING
    new_portal_key = read(own_stack.vault_root(), "backoffice/systems/portal")["api_key"]
    assert new_portal_key == old_portal_key, "Vault is in memory, but up seeds the same credentials"
    code, refs = _portal_accounts(own_stack, new_portal_key)
    assert code == 200 and probe in refs
    # Mailpit's mailbox is kept too, and it takes the SMTP login seeded again.
    assert probe in {m.subject for m in Mailbox(own_stack.mailpit_url).mails()}
    await _send_smtp(own_stack, f"after {probe}")


def test_status_reports_a_crashed_component_and_up_restarts_only_it(own_stack):
    own_stack.up()
    before = own_stack.status()
    os.kill(before["vault"]["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while own_stack.status()["vault"]["running"] and time.monotonic() < deadline:
        time.sleep(0.1)

    rows = own_stack.status()
    assert rows["vault"]["running"] is False and rows["vault"]["pid"] is None
    assert rows["temporal"]["running"] and rows["sandbox"]["running"]
    assert not own_stack.is_running()

    own_stack.up()
    assert own_stack.is_running()
    after = own_stack.status()
    assert after["vault"]["pid"] != before["vault"]["pid"]
    for name in ("temporal", "sandbox", "mailpit", "api"):
        assert after[name]["pid"] == before[name]["pid"], name
