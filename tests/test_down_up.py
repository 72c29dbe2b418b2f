"""`backoffice dev down` then `up`: a run waiting for approval, and the sandbox records, survive."""

import asyncio
import re

import httpx
import pytest

from devstack.stack import Stack
from domain.contract import VENDOR_ONBOARDING_ID_PREFIX
from runtime.settings import load_settings
from runtime.temporal import connect
from starters.directory import Approver
from tests.helpers import Ledger, result_of, start, status, wait_for
from tests.stack import free_port_config, start_stack

PAT = Approver(id="pat", name="Pat", email="pat@company.example", roles=["procurement"])


async def test_pending_approval_and_records_survive_down_then_up(tmp_path, monkeypatch):
    config = free_port_config(tmp_path, with_worker=True)
    own = start_stack(config)
    try:
        for key, value in {"BACKOFFICE_ENV_FILE": str(own.env_file), **own.client_env()}.items():
            monkeypatch.setenv(key, value)
        settings, client = load_settings(), await connect()
        done = await start(client, settings)
        await result_of(done)
        waiting = await start(client, settings, vendor_type="contractor", payment_terms="net15")
        await wait_for(lambda: _pending(waiting), timeout=30, what="the approval")

        own.down()
        assert not any(c["running"] for c in own.status().values())
        again = Stack(config)
        again.up()
        for key, value in again.client_env().items():
            monkeypatch.setenv(key, value)
        settings, client = load_settings(), await connect()

        handle = client.get_workflow_handle(waiting.id)
        assert (await status(handle)).pending_approval is not None
        # The approval email sent before the restart: its link still decides, once.
        with again.sandbox_admin() as admin:
            approve = _approve_link(Ledger(admin), waiting.id, PAT.email)
        async with httpx.AsyncClient(timeout=30) as web:
            used = await web.post(approve, data={"comment": "after the restart"})
        assert used.status_code == 200, used.text
        await asyncio.wait_for(handle.result(), 60)
        assert [(d.approver, d.accepted) for d in (await status(handle)).decisions] == [
            (PAT.id, True)
        ]
        with again.sandbox_admin() as admin:
            ledger = Ledger(admin)
        for handle_id in (done.id, waiting.id):
            key = handle_id.removeprefix(VENDOR_ONBOARDING_ID_PREFIX)
            assert len(ledger.of(key, "vendor")) == 1, f"{key} lost or duplicated"
    finally:
        Stack(config).down()


def _approve_link(ledger: Ledger, workflow_id: str, to: str) -> str:
    key = workflow_id.removeprefix(VENDOR_ONBOARDING_ID_PREFIX)
    [email] = [m for m in ledger.emails(key, "approval-request") if m["data"]["to"] == to]
    found = re.search(r"^Approve: (\S+)$", email["data"]["body"], re.MULTILINE)
    assert found, f"no approve link in the approval email to {to}"
    return found.group(1)


async def _pending(handle) -> bool:
    return (await status(handle)).pending_approval is not None


pytestmark = pytest.mark.timeout(300)
