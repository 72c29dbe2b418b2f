"""`backoffice subscriptions`: list the subscriptions and how each stands, show one, and change
one (seats and price by sales; pause, resume and cancel by finance). A change is an update the
run validates: the caller learns at once whether it was accepted, and a refused one changes
nothing."""

import argparse
import json
import sys
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.contract import (
    CANCEL_UPDATE,
    CHANGE_PLAN_UPDATE,
    PAUSE_UPDATE,
    RESUME_UPDATE,
    STATUS_QUERY,
    SUBSCRIPTION,
    SUBSCRIPTION_ID_PREFIX,
    subscription_workflow_id,
)
from domain.status import WorkflowStatus
from domain.subscription import ChangeResult, LifecycleChange, PlanChange, SubscriptionView
from domain.validation import describe_errors
from runtime.settings import Settings
from runtime.temporal import connect
from runtime.vault import secret_store
from starters.directory import Directory

LIFECYCLE = {"pause": PAUSE_UPDATE, "resume": RESUME_UPDATE, "cancel": CANCEL_UPDATE}


class ChangeOutcome(BaseModel):
    accepted: bool
    code: str | None = None
    reason: str
    result: ChangeResult | None = None


async def subscription_view(client: Client, subscription_id: str) -> SubscriptionView | None:
    """How one subscription stands (its latest run's `status`); None if there is none."""
    handle = client.get_workflow_handle(subscription_workflow_id(subscription_id))
    try:
        status: WorkflowStatus = await handle.query(STATUS_QUERY, result_type=WorkflowStatus)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return status.subscription


async def subscription_views(client: Client) -> list[SubscriptionView]:
    """Every running subscription, as it stands."""
    views = []
    async for run in client.list_workflows(
        f"WorkflowType = '{SUBSCRIPTION}' AND ExecutionStatus = 'Running'"
    ):
        found = await subscription_view(client, run.id.removeprefix(SUBSCRIPTION_ID_PREFIX))
        if found is not None:
            views.append(found)
    return sorted(views, key=lambda v: v.subscription_id)


async def change_subscription(
    client: Client, subscription_id: str, update: str, change: PlanChange | LifecycleChange
) -> ChangeOutcome:
    handle = client.get_workflow_handle(subscription_workflow_id(subscription_id))
    try:
        result = await handle.execute_update(update, change, result_type=ChangeResult)
    except WorkflowUpdateFailedError as exc:
        if isinstance(exc.cause, ApplicationError):
            return ChangeOutcome(accepted=False, code=exc.cause.type, reason=exc.cause.message)
        raise
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return ChangeOutcome(
                accepted=False,
                code="SUBSCRIPTION_NOT_RUNNING",
                reason=f"subscription {subscription_id} is not running (none, or it ended)",
            )
        raise
    return ChangeOutcome(accepted=True, reason=f"{update}: {result.effective}", result=result)


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = sub.add_parser(
        "subscriptions", help="subscriptions: list, show, and change seats, pause, cancel"
    )
    parser.add_argument("--json", action="store_true", help="JSON for machines")
    actions = parser.add_subparsers(dest="action")
    show = actions.add_parser("show", help="how one subscription stands")
    show.add_argument("subscription_id")
    plan = actions.add_parser("plan", help="seats and price from the next period (sales)")
    plan.add_argument("subscription_id")
    plan.add_argument("--seats", type=int)
    plan.add_argument("--price-per-seat-cents", type=int)
    plan.add_argument("--discount-bp", type=int)
    plan.add_argument("--as", dest="who", required=True, help="your directory id")
    for name, help_text in (
        ("pause", "bill no period until resumed (finance)"),
        ("resume", "bill periods again (finance)"),
        ("cancel", "at the current period's end, or --now (finance)"),
    ):
        lifecycle = actions.add_parser(name, help=help_text)
        lifecycle.add_argument("subscription_id")
        lifecycle.add_argument("--as", dest="who", required=True, help="your directory id")
        lifecycle.add_argument("--reason", default="")
        if name == "cancel":
            lifecycle.add_argument("--now", action="store_true", help="not at the period's end")


async def command(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect()
    if args.action is None:
        return _print(args, await subscription_views(client))
    if args.action == "show":
        found = await subscription_view(client, args.subscription_id)
        if found is None:
            print(f"backoffice: no subscription {args.subscription_id}")
            return 1
        return _print(args, [found])
    await Directory(secret_store(settings)).get(args.who)  # an unknown id fails here, named
    change: PlanChange | LifecycleChange
    try:
        if args.action == "plan":
            change = PlanChange(
                by=args.who,
                seats=args.seats,
                price_per_seat_cents=args.price_per_seat_cents,
                discount_bp=args.discount_bp,
            )
            update = CHANGE_PLAN_UPDATE
        else:
            at_end = not getattr(args, "now", False)
            change = LifecycleChange(by=args.who, reason=args.reason, at_period_end=at_end)
            update = LIFECYCLE[args.action]
    except ValidationError as exc:
        print(f"backoffice: {'; '.join(describe_errors(exc))}", file=sys.stderr)
        return 2
    outcome = await change_subscription(client, args.subscription_id, update, change)
    if not outcome.accepted:
        print(f"refused ({outcome.code}): {outcome.reason}")
        return 1
    print(f"accepted: {outcome.reason}")
    assert outcome.result is not None
    return _print(args, [outcome.result.subscription])


def _print(args: argparse.Namespace, views: list[SubscriptionView]) -> int:
    if args.json:
        print(json.dumps([v.model_dump(mode="json") for v in views], indent=2))
        return 0
    if not views:
        print("no running subscriptions")
        return 0
    rows: list[tuple[Any, ...]] = [("SUBSCRIPTION", "STATUS", "NEXT BILLING", "OPEN", "PLAN")]
    for v in views:
        at = v.next_billing_at.strftime("%Y-%m-%d %H:%M:%S") if v.next_billing_at else "-"
        rows.append((v.subscription_id, v.status.value, at, str(v.open_cents), v.plan))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0
