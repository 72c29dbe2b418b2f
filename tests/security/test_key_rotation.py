"""Key rotation: a run started before new data keys and a new version of the transit key
still decodes and completes after them, in a worker that starts afresh (nothing cached), and a
process that never saw those keys reads the whole history."""

import asyncio
from datetime import timedelta

from domain.approvals import Decision
from runtime.codec import ENCODING, META_WRAPPED_KEY, decode_in_place
from runtime.temporal import data_converter, payload_keys
from runtime.vault import secret_store
from starters.approvals import decide
from starters.directory import Approver
from tests.helpers import start, status, wait_for
from tests.security.history import event_payloads, events_of

PAT = Approver(id="pat", name="Pat", email="pat@company.example", roles=["procurement"])
TRANSIT_KEY = "backoffice-payloads"


def _wrapped_keys(events) -> set[str]:
    return {
        payload.metadata[META_WRAPPED_KEY].decode()
        for event in events
        for _, payload in event_payloads(event)
    }


async def test_runs_started_before_rotations_decode_and_complete_after_them(
    client, settings, stack
):
    # Approval windows long enough for the sleeps and the worker restart below.
    patient = settings.model_copy(
        update={
            f"approval_{t}_after": timedelta(minutes=5) for t in ("remind", "escalate", "expire")
        }
    )
    handle = await start(client, patient, vendor_type="contractor", payment_terms="net15")
    await wait_for(lambda: _pending(handle), timeout=30, what="the risk review")
    before = _wrapped_keys(await events_of(handle))
    assert all(key.startswith("vault:v") for key in before)
    version_before = _latest_version(stack)

    # A new version of the transit key, and (the test stack rotates every 3 s) new data keys.
    stack.vault_root().secrets.transit.rotate_key(name=TRANSIT_KEY, mount_point="transit")
    version_after = _latest_version(stack)
    assert version_after == version_before + 1
    await asyncio.sleep(settings.payload_key_rotate_after.total_seconds() + 1)
    # A worker with an empty key cache must unwrap the old data keys through transit.
    stack.stop_worker()
    stack.start_worker()

    outcome = await decide(client, PAT, handle.id, Decision.APPROVE, "checked")
    assert outcome.accepted, outcome
    result = await asyncio.wait_for(handle.result(), 90)
    assert result.approval.startswith("approved")

    events = await events_of(handle)
    after = _wrapped_keys(events) - before
    assert after, "no payload was sealed with a data key made after the rotations"
    assert any(k.startswith(f"vault:v{version_before}:") for k in before)
    assert any(k.startswith(f"vault:v{version_after}:") for k in after)

    # A process that never saw any of these keys: every payload opens through transit.
    fresh = data_converter(payload_keys(settings, secret_store(settings)))
    assert fresh.payload_codec is not None
    for event in events:
        await decode_in_place(event, fresh.payload_codec)
        assert all(p.metadata["encoding"] != ENCODING for _, p in event_payloads(event))


def _latest_version(stack) -> int:
    key = stack.vault_root().secrets.transit.read_key(name=TRANSIT_KEY, mount_point="transit")
    return int(key["data"]["latest_version"])


async def _pending(handle) -> bool:
    return (await status(handle)).pending_approval is not None
