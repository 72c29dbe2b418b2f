"""The CLI as an operator uses it: start from a file, list approvals, decide, show status."""

import json
import os
import subprocess
import sys

from domain.contract import vendor_onboarding_id
from tests.api.checks import assert_not_started
from tests.helpers import Ledger, result_of, vendor_application, wait_for


def backoffice(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backoffice.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def test_start_approve_and_status_from_the_command_line(client, cli_env, admin, tmp_path):
    app = vendor_application(vendor_type="contractor", payment_terms="net30")
    file = tmp_path / "application.json"
    file.write_text(json.dumps(app))
    workflow_id = vendor_onboarding_id(app["application_id"])
    # The stack's approval timers are seconds (for the expiry tests); this run waits through
    # six CLI calls (a Python start each, slow on a busy machine), so its policy gets minutes.
    patient = {
        **cli_env,
        "BACKOFFICE_APPROVAL_REMIND_AFTER": "PT2M",
        "BACKOFFICE_APPROVAL_ESCALATE_AFTER": "PT2M",
        "BACKOFFICE_APPROVAL_EXPIRE_AFTER": "PT5M",
    }

    first = backoffice("start", "vendor-onboarding", str(file), env=patient)
    assert first.returncode == 0, first.stderr
    assert f"{workflow_id} started" in first.stdout
    assert f"/namespaces/default/workflows/{workflow_id}" in first.stdout
    again = backoffice("start", "vendor-onboarding", str(file), env=patient)
    assert f"{workflow_id} already exists" in again.stdout

    async def listed() -> bool:
        out = backoffice("approvals", "--role", "procurement", env=cli_env)
        return workflow_id in out.stdout

    await wait_for(listed, timeout=30, what="the approval in `backoffice approvals`")

    wrong = backoffice("approve", workflow_id, "--as", "fiona", env=cli_env)
    assert wrong.returncode == 1 and "WRONG_ROLE" in wrong.stderr
    own = backoffice("approve", workflow_id, "--as", "rory", env=cli_env)
    assert own.returncode == 1 and "SELF_APPROVAL" in own.stderr
    nobody = backoffice("approve", workflow_id, "--as", "mallory", env=cli_env)
    assert nobody.returncode == 1 and "no approver 'mallory'" in nobody.stderr

    ok = backoffice("approve", workflow_id, "--as", "pat", "--comment", "fine", env=cli_env)
    assert ok.returncode == 0, ok.stderr
    assert "accepted" in ok.stdout
    await result_of(client.get_workflow_handle(workflow_id))
    shown = backoffice("status", workflow_id, env=cli_env)
    assert (
        "stage completed" in shown.stdout
        and "approve by pat via update, sent by " in shown.stdout
        and "(accepted)" in shown.stdout
    )
    assert len(Ledger(admin).of(app["application_id"], "vendor")) == 1


async def test_invalid_application_file_names_the_field_and_starts_nothing(
    client, cli_env, tmp_path
):
    app = vendor_application()
    app["bank_account"]["iban"] = "DE00123456789012345678"
    del app["tax_id"]
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(app))
    out = backoffice("start", "vendor-onboarding", str(file), env=cli_env)
    assert out.returncode == 2
    assert "bank_account.iban: Value error, IBAN check digits do not match" in out.stderr
    assert "tax_id: Field required" in out.stderr
    assert "DE00123456789012345678" not in out.stderr  # errors name fields, never values
    workflow_id = vendor_onboarding_id(app["application_id"])
    await assert_not_started(client, workflow_id)

    file.write_text("{not json")
    out = backoffice("start", "vendor-onboarding", str(file), env=cli_env)
    assert out.returncode == 2 and "not valid JSON" in out.stderr
    missing = backoffice("start", "vendor-onboarding", str(tmp_path / "nope.json"), env=cli_env)
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_missing_settings_are_named(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKOFFICE_", "TEMPORAL_"))}
    env["BACKOFFICE_DATA_DIR"] = str(tmp_path)
    out = backoffice("approvals", env=env)
    assert out.returncode == 2
    assert "BACKOFFICE_VAULT_ADDR: Field required" in out.stderr
