"""Starting a business key again: the same run is handed back, unless the operator asks for a
re-run of a key whose last run ended without success and left nothing behind; a re-run creates
its own records (its idempotency keys are its own), never the old run's twice."""

import json

from temporalio.client import WorkflowExecutionStatus

from domain.contract import vendor_onboarding_id
from tests.helpers import Ledger, failure_of, result_of, vendor_application
from tests.test_cli import backoffice


async def test_a_failed_onboarding_runs_again_on_request_and_creates_afresh(
    client, admin, cli_env, tmp_path
):
    application = vendor_application()
    key = application["application_id"]
    file = tmp_path / "application.json"
    file.write_text(json.dumps(application))
    admin.put(
        "/_admin/faults/portal",
        json={"status": 422, "code": "REFUSED_BY_TEST", "path": "/accounts$", "count": 1},
    ).raise_for_status()
    started = backoffice("start", "vendor-onboarding", str(file), env=cli_env)
    assert started.returncode == 0, started.stderr
    handle = client.get_workflow_handle(vendor_onboarding_id(key))
    assert (await failure_of(handle)).type == "REFUSED_BY_TEST"
    failed_run = (await handle.describe()).run_id

    again = backoffice("start", "vendor-onboarding", str(file), env=cli_env)
    assert again.returncode == 0 and "already exists" in again.stdout
    assert (await handle.describe()).run_id == failed_run

    rerun = backoffice("start", "vendor-onboarding", str(file), "--rerun", env=cli_env)
    assert rerun.returncode == 0, rerun.stderr
    assert f"replaces run {failed_run}" in rerun.stdout
    new_run = client.get_workflow_handle(vendor_onboarding_id(key))
    await result_of(new_run)
    described = await new_run.describe()
    assert described.run_id != failed_run
    assert described.status == WorkflowExecutionStatus.COMPLETED

    # The first run's vendor was undone; the re-run made its own, and one portal account.
    ledger = Ledger(admin)
    assert sorted(v["status"] for v in ledger.of(key, "vendor")) == ["active", "inactive"]
    assert [a["status"] for a in ledger.of(key, "account")] == ["active"]
    assert len(ledger.emails(key, "vendor-welcome")) == 1

    # A completed key is handed back, re-run or not.
    done = backoffice("start", "vendor-onboarding", str(file), "--rerun", env=cli_env)
    assert done.returncode == 0 and "already exists" in done.stdout
    assert (await new_run.describe()).run_id == described.run_id


async def test_a_rerun_of_a_key_whose_run_is_running_hands_it_back(
    client, admin, cli_env, tmp_path
):
    # A high-risk country waits for procurement: the run is running.
    application = vendor_application(country="IR")
    file = tmp_path / "application.json"
    file.write_text(json.dumps(application))
    assert backoffice("start", "vendor-onboarding", str(file), env=cli_env).returncode == 0
    handle = client.get_workflow_handle(vendor_onboarding_id(application["application_id"]))
    first = (await handle.describe()).run_id
    rerun = backoffice("start", "vendor-onboarding", str(file), "--rerun", env=cli_env)
    assert rerun.returncode == 0 and "already exists" in rerun.stdout
    assert (await handle.describe()).run_id == first
    await handle.terminate("test over")
