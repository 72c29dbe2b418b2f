"""Record the histories that `test_replay` guards: run against a dev stack (`backoffice dev up`).

.venv/bin/python -m tests.record_histories
"""

import asyncio
from pathlib import Path

from domain.approvals import Decision
from runtime.settings import load_settings
from runtime.temporal import connect
from starters.approvals import decide
from starters.directory import Approver
from tests.helpers import failure_of, start, status, wait_for

OUT = Path(__file__).parent / "histories"
PAT = Approver(id="pat", name="Pat", email="pat@company.example", roles=["procurement"])


async def main() -> None:
    settings = load_settings()
    client = await connect()
    happy = await start(client, settings)
    await happy.result()
    rejected = await start(client, settings, vendor_type="contractor", payment_terms="net15")
    await wait_for(lambda: _pending(rejected), timeout=30, what="approval")
    await decide(client, PAT, rejected.id, Decision.REJECT, "recorded for replay tests")
    await failure_of(rejected)
    for name, handle in (
        ("vendor_onboarding_happy", happy),
        ("vendor_onboarding_rejected", rejected),
    ):
        (OUT / f"{name}.json").write_text((await handle.fetch_history()).to_json())
        print(f"wrote {OUT / name}.json")


async def _pending(handle) -> bool:
    return (await status(handle)).pending_approval is not None


if __name__ == "__main__":
    asyncio.run(main())
