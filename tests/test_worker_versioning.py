"""Worker Versioning on the real stack: the worker is a version of the Worker Deployment, each
workflow type's runs are pinned or auto-upgrade, and the rollout of docs/deploying.md works with
the real `temporal` CLI: a new version beside the old one, replay-check, set-current-version,
new runs on the new version, pinned runs finish on the old one, which then drains."""

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import VersioningBehavior
from temporalio.client import WorkflowHandle

from devstack.environment import inherited_env
from devstack.temporal_cli import find_temporal_cli
from domain.approvals import Decision
from domain.contract import AMOUNT_CENTS, INVOICE_ID_PREFIX
from starters.approvals import decide
from starters.directory import Approver
from tests.helpers import patient, start, status, wait_for
from tests.invoicing import pay
from tests.record_histories import CONTRACTOR
from tests.test_replay import backoffice
from workers.versioning import deployment_version

PAT = Approver(id="pat", name="Pat", email="pat@company.example", roles=["procurement"])
DEPLOYMENT = "backoffice"


def temporal(stack, *args: str) -> Any:
    """`temporal worker deployment <args>` against the stack's server, its JSON answer."""
    done = subprocess.run(
        [str(find_temporal_cli()), "worker", "deployment", *args, *_on(stack)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def _on(stack) -> list[str]:
    return ["--address", stack.temporal_address, "--output", "json"]


def _current(stack) -> str:
    described = temporal(stack, "describe", "--name", DEPLOYMENT)
    return str(described["routingConfig"]["currentVersionBuildID"])


def _set_current(stack, build_id: str) -> None:
    temporal(
        stack,
        "set-current-version",
        "--deployment-name",
        DEPLOYMENT,
        "--build-id",
        build_id,
        "--yes",
    )


async def versioning(handle: WorkflowHandle[Any, Any]) -> tuple[int, str]:
    """The run's versioning behaviour and the build id of the version it is on."""
    info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
    return info.behavior, info.deployment_version.build_id


async def _pending(handle: WorkflowHandle[Any, Any]) -> bool:
    return (await status(handle)).pending_approval is not None


async def _stage(handle: WorkflowHandle[Any, Any], stage: str) -> bool:
    return (await status(handle)).stage == stage


async def test_the_worker_is_the_current_version_and_runs_are_pinned_or_upgrading(
    stack, client, settings, crm
):
    build_id = deployment_version(settings).build_id
    described = temporal(stack, "describe", "--name", DEPLOYMENT)
    assert described["routingConfig"]["currentVersionBuildID"] == build_id, described

    vendor = await start(client, settings, **CONTRACTOR)
    await wait_for(lambda: _pending(vendor), timeout=30, what="the approval")
    assert await versioning(vendor) == (VersioningBehavior.VERSIONING_BEHAVIOR_PINNED, build_id)
    invoice = await _invoice(client, settings, crm)
    assert await versioning(invoice) == (
        VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE,
        build_id,
    )
    await invoice.cancel()
    await vendor.cancel()


async def test_a_new_version_rolls_out_and_the_old_one_drains(
    stack, client, settings, crm, admin, cli_env, tmp_path: Path
):
    old = deployment_version(settings).build_id
    new = f"{old}-next-{uuid.uuid4().hex[:6]}"
    pinned = await start(client, patient(settings), **CONTRACTOR)  # the stack expires in 12 s
    await wait_for(lambda: _pending(pinned), timeout=30, what="the approval")
    upgrading = await _invoice(client, settings, crm)

    log = (tmp_path / "worker-next.log").open("w")
    env = {
        **stack.worker_env(),
        "BACKOFFICE_WORKER_BUILD_ID": new,
        "BACKOFFICE_WORKER_BECOME_CURRENT": "never",
        "BACKOFFICE_WORKER_METRICS_ADDRESS": "",  # the first worker's port is taken
    }
    worker = subprocess.Popen(
        stack.worker_command(), env=inherited_env(env), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        await wait_for(
            lambda: _ready(worker, tmp_path / "worker-next.log"),
            timeout=90,
            what="the new version's worker",
        )

        # The server registers a version's task queues as its pollers arrive, one by one.
        def registered() -> bool:
            try:
                version = temporal(
                    stack, "describe-version", "--deployment-name", DEPLOYMENT, "--build-id", new
                )
            except AssertionError:  # "Worker Deployment Version not found" yet
                return False
            queues = {(q["name"], q["type"]) for q in version["taskQueuesInfos"]}
            return {("backoffice", "workflow"), ("backoffice-billing", "activity")} <= queues

        await wait_for(registered, timeout=60, what="the new version's task queues")
        # Nothing moved yet: the new version is not current.
        assert _current(stack) == old

        checked = backoffice("replay-check", env=cli_env)
        assert checked.returncode == 0, checked.stderr
        _set_current(stack, new)

        fresh = await start(client, settings)
        await fresh.result()
        assert _current(stack) == new
        assert (await versioning(fresh))[1] == new
        # The pinned run stays on the old version, which drains while it is open.
        assert (await versioning(pinned))[1] == old
        assert _drainage(stack, old) == "draining"
        assert (await decide(client, PAT, pinned.id, Decision.APPROVE, "rollout")).accepted
        await pinned.result()
        assert (await versioning(pinned))[1] == old
        # The upgrading run moves to the new version at its next task (the payment).
        number = upgrading.id.removeprefix(INVOICE_ID_PREFIX)
        amount = (await upgrading.describe()).search_attributes[AMOUNT_CENTS.name][0]
        assert isinstance(amount, int)
        pay(admin, number, amount, payment_id=f"{number}-pay")
        await upgrading.result()
        assert (await versioning(upgrading))[1] == new

        await wait_for(lambda: _drainage(stack, old) == "drained", timeout=90, what="drained")
    finally:
        _set_current(stack, old)
        worker.terminate()
        worker.wait(timeout=60)
        log.close()


def _ready(worker: subprocess.Popen[bytes], log: Path) -> bool:
    text = log.read_text()
    assert worker.poll() is None, f"the new version's worker stopped:\n{text}"
    return "backoffice worker ready" in text


def _drainage(stack, build_id: str) -> str:
    """The version's drainage status as `temporal worker deployment describe` lists it."""
    described = temporal(stack, "describe", "--name", DEPLOYMENT)
    (summary,) = [v for v in described["versionSummaries"] if v["BuildID"] == build_id]
    return str(summary["drainageStatus"])


async def _invoice(client, settings, crm) -> WorkflowHandle[Any, Any]:
    from domain.invoice import InvoiceRequest
    from starters.start import start_invoice
    from tests.invoicing import invoice_request

    request = InvoiceRequest.model_validate(invoice_request(*crm.account_and_deal()))
    outcome = await start_invoice(client, settings, request)
    handle = client.get_workflow_handle(outcome.workflow_id)
    await wait_for(lambda: _stage(handle, "awaiting_payment"), what="the invoice to be sent")
    return handle


def test_a_bad_version_setting_stops_the_worker_with_its_name(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKOFFICE_", "TEMPORAL_"))}
    env.update(
        BACKOFFICE_DATA_DIR=str(tmp_path),
        BACKOFFICE_VAULT_ADDR="http://127.0.0.1:1",
        BACKOFFICE_VAULT_ROLE_ID="role",
        BACKOFFICE_VAULT_SECRET_ID="secret",
    )
    for name, value in (
        ("BACKOFFICE_WORKER_BUILD_ID", "two words"),
        ("BACKOFFICE_WORKER_DEPLOYMENT_NAME", "back.office"),
        ("BACKOFFICE_WORKER_BECOME_CURRENT", "sometimes"),
    ):
        out = backoffice("worker", env={**env, name: value})
        assert out.returncode == 2, out.stderr
        assert name in out.stderr
