"""Only the reconciliation's figure, on a bench stack of its own:
`python -m bench.reconcile_alone 100000 [--floor]` (one day of A, and its floor with --floor).

For measuring one big day alone, without the rest of `backoffice bench` around it; prints the
figures as JSON.
"""

import argparse
import asyncio
import json
import sys

from bench.environment import other_pids, product_worker, temporal_pid
from bench.reconciliation import reconciliation_figures
from bench.run import RECONCILED_DEALS, stack_of_its_own
from devstack.crm_seed import SandboxCrm
from devstack.stack import Stack
from runtime.settings import load_settings
from runtime.temporal import connect


async def _measure(stack: Stack, count: int, floor: bool) -> list[dict[str, object]]:
    settings = load_settings()
    client = await connect(settings=settings)
    crm = await asyncio.to_thread(SandboxCrm, stack)
    pool = [(await asyncio.to_thread(crm.account_and_deal))[1] for _ in range(RECONCILED_DEALS)]
    worker = product_worker(stack)
    await asyncio.to_thread(worker.start)
    try:
        pids = {
            "worker": worker.pid,
            "server": temporal_pid(stack),
            "sandbox": other_pids(stack)["sandbox"],
        }
        with stack.sandbox_admin() as admin:
            figures = await reconciliation_figures(
                client,
                settings,
                admin,
                pids,
                (count,),
                pool,
                lambda line: print(line, file=sys.stderr, flush=True),
                kinds=("floor", "A") if floor else ("A",),
            )
    finally:
        await asyncio.to_thread(worker.stop)
    return [figure.model_dump() for figure in figures]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reconcile_alone")
    parser.add_argument("invoices", type=int)
    parser.add_argument("--floor", action="store_true", help="its floor too")
    args = parser.parse_args()
    with stack_of_its_own() as stack:
        figures = asyncio.run(_measure(stack, args.invoices, args.floor))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
