"""No seeded secret value in any workflow history or in the worker's log."""

import asyncio

from domain.approvals import Decision
from runtime.codec import decode_in_place
from starters.approvals import decide
from starters.directory import Approver
from tests.helpers import failure_of, result_of, start, wait_for
from tests.security.history import spellings

OLGA = Approver(id="olga", name="Olga", email="olga@company.example", roles=["procurement"])


# Names, not secrets: the SMTP login's user is `backoffice`, which every history holds (its task
# queues) without any secret in it.
NOT_SECRET = {"username", "client_id"}


def _seeded_values(stack) -> set[str]:
    vault = stack.vault_root()
    values: set[str] = set()
    for folder in ("systems", "webhooks"):
        listed = vault.secrets.kv.v2.list_secrets(path=f"backoffice/{folder}", mount_point="secret")
        for name in listed["data"]["keys"]:
            data = vault.secrets.kv.v2.read_secret_version(
                path=f"backoffice/{folder}/{name}",
                mount_point="secret",
                raise_on_deleted_version=True,
            )["data"]["data"]
            for key, value in data.items():
                if key in NOT_SECRET:
                    continue
                values.update(value if isinstance(value, list) else [value])
    values.update(v for k, v in stack.worker_env().items() if k.endswith("SECRET_ID"))
    values.update(
        v for k, v in stack.client_env().items() if k.endswith(("SECRET_ID", "ADMIN_TOKEN"))
    )
    return {v for v in values if isinstance(v, str) and len(v) >= 8}


async def test_no_secret_in_histories_or_worker_log(client, settings, stack):
    happy = await start(client, settings)
    rejected = await start(client, settings, vendor_type="contractor", payment_terms="net15")
    await result_of(happy)
    await wait_for(lambda: _has_pending(rejected), timeout=30, what="approval")
    await decide(client, OLGA, rejected.id, Decision.REJECT, "no")
    await failure_of(rejected)

    seeded = _seeded_values(stack)
    assert len(seeded) >= 8, "expected the seeded credentials to be readable for the check"
    codec = client.data_converter.payload_codec
    assert codec is not None, "the test client has no codec: payloads could not be read"
    histories = []
    async for execution in client.list_workflows():
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        # Payloads are encrypted in Temporal: open them, or a secret inside could not be seen.
        for event in history.events:
            await decode_in_place(event, codec)
        histories.append(history.to_json())
    # The positive control: the plain text of a run's input is found in its decoded history.
    (app,) = await client.data_converter.decode(
        (await happy.fetch_history())
        .events[0]
        .workflow_execution_started_event_attributes.input.payloads
    )
    legal_name = app["application"]["legal_name"]
    assert any(_contains(h, legal_name) for h in histories), "histories were not decoded"
    log = stack.worker_log_path().read_text()
    assert "backoffice worker ready" in log
    for value in seeded:
        assert not any(_contains(h, value) for h in histories), "a seeded secret is in a history"
        assert value not in log, "a seeded secret is in the worker log"


def _contains(history_json: str, value: str) -> bool:
    """The value as text, or inside a payload's base64 data."""
    return any(form and form in history_json for form in spellings(value))


async def _has_pending(handle) -> bool:
    from tests.helpers import status

    return (await status(handle)).pending_approval is not None


async def test_worker_with_a_bad_approle_secret_fails_closed(stack):
    env = stack.worker_env() | {"BACKOFFICE_VAULT_SECRET_ID": "not-the-secret-id"}
    proc = await asyncio.create_subprocess_exec(
        *stack.worker_command(), env=env, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert b"Vault AppRole login refused" in err and b"BACKOFFICE_VAULT_SECRET_ID" in err
    assert b"not-the-secret-id" not in err
