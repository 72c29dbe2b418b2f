"""`backoffice approve --as <id>` is an operator command: whoever can run it decides for that
approver, so the decision records the operator (the OS account the CLI runs under, and its host)
beside the approver it acts for. The account comes from the process's user id, not from a flag
or an environment variable a caller could set."""

import os
import pwd
import socket

from domain.approvals import Decision
from starters.approvals import decide
from starters.directory import Approver
from tests.helpers import patient, result_of, start, status, wait_for
from tests.test_cli import backoffice

PAT = Approver(id="pat", name="Pat", email="pat@company.example", roles=["procurement"])


async def _pending_id(handle) -> str | None:
    pending = (await status(handle)).pending_approval
    return pending.request.approval_id if pending else None


def _this_account() -> str:
    return f"{pwd.getpwuid(os.getuid()).pw_name}@{socket.gethostname()}"


async def test_the_cli_records_the_operator_beside_the_approver(client, settings, cli_env):
    handle = await start(client, patient(settings), vendor_type="contractor", payment_terms="net30")
    await wait_for(lambda: _pending_id(handle), what="the approval")
    # Claiming to be someone else through the environment changes nothing.
    pretending = {**cli_env, "USER": "mallory", "LOGNAME": "mallory"}

    refused = backoffice("approve", handle.id, "--as", "fiona", env=pretending)
    approved = backoffice("approve", handle.id, "--as", "pat", "--comment", "ok", env=pretending)

    assert refused.returncode == 1 and "WRONG_ROLE" in refused.stderr
    assert approved.returncode == 0, approved.stderr
    await result_of(handle)
    decisions = (await status(handle)).decisions
    assert [(d.approver, d.accepted, d.operator) for d in decisions] == [
        ("fiona", False, _this_account()),
        ("pat", True, _this_account()),
    ]
    shown = backoffice("status", handle.id, env=cli_env)
    assert f"approve by pat via update, sent by {_this_account()} (accepted)" in shown.stdout


async def test_an_approver_deciding_for_themselves_records_no_operator(client, settings):
    """The HTTP API and the inbox: the approver signed in, nobody acted for them."""
    handle = await start(client, patient(settings), vendor_type="contractor", payment_terms="net30")
    approval_id = await wait_for(lambda: _pending_id(handle), what="the approval")

    outcome = await decide(client, PAT, handle.id, Decision.APPROVE, "", approval_id)

    assert outcome.accepted
    await result_of(handle)
    (decision,) = (await status(handle)).decisions
    assert (decision.approver, decision.operator) == ("pat", None)
