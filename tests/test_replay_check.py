"""`backoffice replay-check` against a live Temporal server: the histories of real runs (running
and closed), fetched through visibility or by id, decrypted with the product's data converter."""

from typing import Any

from temporalio.client import WorkflowHandle

from tests.helpers import start, status, wait_for
from tests.test_replay import backoffice, changed_code_env


async def _waiting_for_approval(handle: WorkflowHandle[Any, Any]) -> bool:
    return (await status(handle)).pending_approval is not None


async def test_replay_check_replays_running_and_closed_runs(client, settings, cli_env, tmp_path):
    closed = await start(client, settings)
    await closed.result()
    running = await start(client, settings, vendor_type="contractor", payment_terms="net15")
    await wait_for(lambda: _waiting_for_approval(running), timeout=30, what="the approval")

    everything = backoffice("replay-check", env=cli_env)
    assert everything.returncode == 0, everything.stderr
    assert everything.stdout.startswith("replay-check: ")
    assert "VendorOnboarding" in everything.stdout
    assert everything.stdout.rstrip().endswith("no non-determinism")

    one = backoffice("replay-check", "--query", f"WorkflowId = '{closed.id}'", env=cli_env)
    assert (
        one.stdout == "replay-check: 1 history replayed (VendorOnboarding 1), no non-determinism\n"
    )

    both = backoffice(
        "replay-check", "--workflow-id", closed.id, "--workflow-id", running.id, env=cli_env
    )
    assert both.returncode == 0, both.stderr
    assert "2 histories replayed (VendorOnboarding 2)" in both.stdout

    changed = backoffice(
        "replay-check", "--workflow-id", running.id, env=changed_code_env(tmp_path, cli_env)
    )
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert f"non-determinism in workflow {running.id} (run " in changed.stderr
    assert " at event " in changed.stderr


def test_replay_check_names_a_workflow_that_does_not_exist(cli_env):
    out = backoffice("replay-check", "--workflow-id", "vendor-onboarding-NO-SUCH-RUN", env=cli_env)
    assert out.returncode == 2
    assert "--workflow-id vendor-onboarding-NO-SUCH-RUN: no such workflow" in out.stderr
