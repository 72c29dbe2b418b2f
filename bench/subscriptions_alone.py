"""Only the subscriptions' figure, on a bench stack of its own:
`python -m bench.subscriptions_alone 10000` (that many left waiting; the periods' backlogs of the
full run). Prints the figure as JSON.
"""

import argparse
import asyncio
import json
import sys

from bench.plan import FULL
from bench.run import harness, stack_of_its_own, subscriptions
from bench.subscriptions import SubscriptionFigure
from devstack.stack import Stack


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def _measure(stack: Stack, waiting: int) -> SubscriptionFigure:
    plan = FULL.model_copy(update={"subscriptions_waiting": waiting})
    async with harness(stack, plan) as h:
        return await subscriptions(h, plan, _say)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.subscriptions_alone")
    parser.add_argument("waiting", type=int, help="subscriptions left waiting, at least 1")
    args = parser.parse_args()
    if args.waiting < 1:
        parser.error("waiting: a number of subscriptions, at least 1")
    with stack_of_its_own() as stack:
        figure = asyncio.run(_measure(stack, args.waiting))
    print(json.dumps(figure.report(), indent=2))


if __name__ == "__main__":
    main()
