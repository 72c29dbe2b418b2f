"""The operator and approver commands of `backoffice`: start processes, list and decide
approvals, show a run and its external calls, act in the sandbox's systems."""

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio.client import Client

from backoffice.cli import schedules as schedule_commands
from backoffice.cli.parsing import FAILED, NOT_RUNNING, USAGE, print_json
from domain.approvals import ApprovalKind, Decision, Resolution, Verdict
from domain.invoice import InvoiceRequest
from domain.lead import DealStage, LeadForm
from domain.subscription import SubscriptionRequest
from domain.validation import describe_errors
from domain.vendor import VendorApplication
from runtime.db import make_engine
from runtime.schema import DatabaseUnreachable, SchemaNotCurrent, require_current_schema
from runtime.settings import Settings, SettingsError, load_settings
from runtime.temporal import TemporalUnreachable, connect
from runtime.vault import SecretUnavailable, VaultUnreachable, secret_store
from starters import audit, subscriptions, systems
from starters.approvals import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    DecisionUnconfirmed,
    InvalidCursor,
    WorkflowNotFound,
    approvals_page,
    decide,
    operator_identity,
    pending_approvals,
    workflow_status,
)
from starters.directory import Directory, UnknownApprover
from starters.invoices import BadAmount, amount_to_cents, void_invoice
from starters.reconciliation import BadInput
from starters.sandbox_actions import (
    SandboxRefused,
    SandboxUnreachable,
    move_deal,
    record_payment,
    sign_envelope,
)
from starters.schedules import ScheduleNotFound
from starters.start import (
    RerunRefused,
    StartOutcome,
    StartRefused,
    start_invoice,
    start_lead_to_cash,
    start_subscription,
    start_vendor_onboarding,
)
from starters.webhooks.inbox import UnknownDeadLetter, WebhookInbox

JSON_HELP = "print one JSON document on stdout instead of the table"


class UsageError(Exception):
    """Bad input from the command line; nothing was started or changed."""


STARTABLE: dict[str, tuple[type[BaseModel], str]] = {
    "vendor-onboarding": (VendorApplication, "vendor application"),
    "invoice": (InvoiceRequest, "invoice request"),
    "lead": (LeadForm, "lead form"),
    "subscription": (SubscriptionRequest, "subscription request"),
}


def _load_request(process: str, path: str) -> BaseModel:
    model, what = STARTABLE[process]
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        problems = "\n  ".join(describe_errors(exc))
        raise UsageError(f"{path} is not a valid {what}:\n  {problems}") from None


async def _start(args: argparse.Namespace, settings: Settings) -> int:
    request = _load_request(args.process, args.file)
    client = await connect()
    try:
        outcome = await _started(client, settings, request, args.rerun)
    except StartRefused as exc:  # a rule beyond the file's own checks; nothing started
        what = STARTABLE[args.process][1]
        raise UsageError(f"{args.file} is not a valid {what}:\n  {exc}") from None
    verb = "already exists" if outcome.already_existed else "started"
    if outcome.rerun_of:
        verb = f"started again (replaces run {outcome.rerun_of}, which ended without success)"
    print(f"{outcome.workflow_id} {verb} (run {outcome.run_id})")
    print(f"Web UI: {outcome.web_ui_url}")
    return 0


async def _started(
    client: Client, settings: Settings, request: BaseModel, rerun: bool
) -> StartOutcome:
    if isinstance(request, VendorApplication):
        return await start_vendor_onboarding(client, settings, request, rerun=rerun)
    if isinstance(request, LeadForm):
        return await start_lead_to_cash(client, settings, request, rerun=rerun)
    if isinstance(request, SubscriptionRequest):
        return await start_subscription(client, settings, request, rerun=rerun)
    assert isinstance(request, InvoiceRequest)
    return await start_invoice(client, settings, request, rerun=rerun)


async def _approvals(args: argparse.Namespace, settings: Settings) -> int:
    """Every pending approval; with --page-size or --cursor, one page and the next cursor."""
    next_cursor = None
    if args.page_size is None and args.cursor is None:
        views = await pending_approvals(await connect(), settings, args.role)
    else:
        wanted = None if args.role is None else [args.role]
        size = args.page_size or DEFAULT_PAGE_SIZE
        try:
            page = await approvals_page(
                await connect(),
                settings,
                wanted,
                page_size=size,
                cursor=args.cursor,
                kind=ApprovalKind.APPROVAL,
            )
        except InvalidCursor as exc:
            raise UsageError(f"--{exc}") from None
        views, next_cursor = page.approvals, page.next_cursor
        if args.json:
            print_json(page)
            return 0
    if args.json:
        print_json(views)
        return 0
    if not views:
        print("no pending approvals" + (f" for role {args.role}" if args.role else ""))
        return 0
    rows = [("WORKFLOW", "APPROVAL", "ROLES", "LEVEL", "REQUESTED BY", "DUE", "REASON")]
    for v in views:
        due = v.due_at.strftime("%Y-%m-%d %H:%M:%S")
        roles = ",".join(v.allowed_roles)
        rows.append(
            (
                v.workflow_id,
                v.approval_id,
                roles,
                str(v.escalation_level),
                v.requested_by,
                due,
                v.reason,
            )
        )
    _print_table(rows)
    if next_cursor is not None:
        print(f"more: backoffice approvals --cursor {next_cursor}", file=sys.stderr)
    return 0


async def _decide(args: argparse.Namespace, settings: Settings, decision: Verdict) -> int:
    approver = await Directory(secret_store(settings)).get(args.approver)
    # An operator command: the decision records who sent it beside the approver it acts for.
    outcome = await decide(
        await connect(),
        approver,
        args.workflow_id,
        decision,
        args.comment,
        args.approval_id,
        operator=operator_identity(),
    )
    if outcome.accepted:
        print(f"accepted: {outcome.reason} (status {outcome.status})")
        return 0
    print(f"refused ({outcome.code}): {outcome.reason}", file=sys.stderr)
    return 1


async def _attention(args: argparse.Namespace, settings: Settings) -> int:
    """The review queue: list the runs that wait for operations, or decide one of them."""
    if args.action is not None:
        return await _decide(args, settings, Resolution(args.action))
    views = await pending_approvals(
        await connect(), settings, args.role, kind=ApprovalKind.ATTENTION
    )
    if args.json:
        print_json(views)
        return 0
    if not views:
        print("no run needs attention" + (f" for role {args.role}" if args.role else ""))
        return 0
    rows = [("WORKFLOW", "ITEM", "STEP", "CODE", "ROLES", "LEVEL", "SINCE", "DECISIONS")]
    for v in views:
        rows.append(
            (
                v.workflow_id,
                v.approval_id,
                v.step or "-",
                v.error_code or "-",
                ",".join(v.allowed_roles),
                str(v.escalation_level),
                v.opened_at.strftime("%Y-%m-%d %H:%M:%S"),
                "|".join(v.actions),
            )
        )
    _print_table(rows)
    return 0


async def _status(args: argparse.Namespace, settings: Settings) -> int:
    status = await workflow_status(await connect(), args.workflow_id)
    if args.json:
        print_json(status)
        return 0
    print(f"{status.process} {status.business_key}: stage {status.stage}")
    for step in status.steps_done:
        print(f"  done: {step}")
    if status.pending_approval:
        p = status.pending_approval
        print(
            f"  waiting for approval '{p.request.approval_id}' by {', '.join(p.allowed_roles)} "
            f"(level {p.escalation_level}, due {p.due_at:%Y-%m-%d %H:%M:%S})"
        )
    for d in status.decisions:
        mark = "accepted" if d.accepted else f"refused: {d.refused_because}"
        sent_by = f", sent by {d.operator}" if d.operator else ""
        print(f"  decision: {d.decision.value} by {d.approver} via {d.channel}{sent_by} ({mark})")
    for c in status.compensations:
        print(f"  undone: {c}")
    if status.outcome:
        print(f"  outcome: {status.outcome}")
    if status.problem:
        print(f"  problem: {status.problem}")
    if status.attention:
        print(f"  attention: {status.attention}")
    return 0


async def _pay(args: argparse.Namespace, settings: Settings) -> int:
    payment_id = record_payment(
        settings, args.invoice_number, amount_to_cents(args.amount), args.payment_id
    )
    print(f"payment {payment_id} recorded on invoice {args.invoice_number} in billing")
    return 0


async def _deal(args: argparse.Namespace, settings: Settings) -> int:
    stage = move_deal(settings, args.deal_id, args.stage)
    print(f"deal {args.deal_id} moved to {stage} in the CRM")
    return 0


async def _sign(args: argparse.Namespace, settings: Settings) -> int:
    sign_envelope(settings, args.envelope_id)
    print(f"envelope {args.envelope_id} signed")
    return 0


async def _void(args: argparse.Namespace, settings: Settings) -> int:
    approver = await Directory(secret_store(settings)).get(args.approver)
    outcome = await void_invoice(await connect(), approver, args.invoice_number, args.reason)
    if outcome.accepted:
        print(f"accepted: {outcome.reason}")
        return 0
    print(f"refused ({outcome.code}): {outcome.reason}", file=sys.stderr)
    return 1


async def _webhooks(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings.resolved_database_url)
    require_current_schema(engine)
    inbox = WebhookInbox(engine, await connect())
    if args.action == "dead-letters":
        letters = await inbox.dead_letters()
        if args.json:
            print_json(letters)
            return 0
        if not letters:
            print("no dead letters")
            return 0
        rows = [("ID", "SYSTEM", "EVENT", "TYPE", "WORKFLOW", "RECEIVED", "REASON")]
        for d in letters:
            received = d.received_at.strftime("%Y-%m-%d %H:%M:%S")
            rows.append(
                (
                    str(d.id),
                    d.system,
                    d.event_id,
                    d.event_type,
                    d.workflow_id or "-",
                    received,
                    d.reason or "",
                )
            )
        _print_table(rows)
        return 0
    outcome = await inbox.replay(args.id)
    if outcome.status == "replayed":
        print(f"replayed dead letter {args.id} into {outcome.workflow_id}")
        return 0
    print(f"dead letter {args.id} still undeliverable: {outcome.reason}", file=sys.stderr)
    return 1


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def add_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """The operator and approver commands, added to the tree's."""
    start = sub.add_parser("start", help="start a process from a JSON file")
    start.add_argument("process", choices=sorted(STARTABLE))
    start.add_argument("file")
    start.add_argument(
        "--rerun",
        action="store_true",
        help="start the key again if its last run failed, was cancelled, terminated or timed out",
    )
    approvals = sub.add_parser("approvals", help="list pending approvals")
    approvals.add_argument("--role", help="only approvals this role may decide")
    approvals.add_argument("--json", action="store_true", help=JSON_HELP)
    approvals.add_argument(
        "--page-size",
        type=int,
        choices=range(1, MAX_PAGE_SIZE + 1),
        metavar=f"1..{MAX_PAGE_SIZE}",
        help="one page of this many (newest first) and the cursor of the next",
    )
    approvals.add_argument("--cursor", help="the page after this cursor (printed with a page)")
    for name in ("approve", "reject"):
        p = sub.add_parser(name, help=f"{name} a pending approval")
        p.add_argument("workflow_id")
        p.add_argument(
            "--as",
            dest="approver",
            required=True,
            help="approver id (directory); the decision records you (OS account@host) as the "
            "operator who sent it for them",
        )
        p.add_argument("--comment", default="")
        p.add_argument("--approval-id", help="defaults to the workflow's pending approval")
    attention = sub.add_parser(
        "attention",
        help="runs in the review queue: list them, or retry|skip|compensate one (operations)",
        description="Without an action: the runs that wait for operations after a failure no "
        "retry or compensation can finish. With one: decide a run's item as ACTOR (the "
        "directory says whether they hold the operations role).",
    )
    attention.add_argument("--role", help="only items this role may decide")
    attention.add_argument("--json", action="store_true", help=JSON_HELP)
    resolutions = attention.add_subparsers(dest="action", required=False, metavar="ACTION")
    helps = {
        Resolution.RETRY: "run the failed step again (after fixing its data elsewhere)",
        Resolution.SKIP: "go on without the step: it was done by hand (--comment says what)",
        Resolution.COMPENSATE: "undo what can be undone and end the run",
    }
    for resolution, text in helps.items():
        p = resolutions.add_parser(resolution.value, help=text)
        p.add_argument("workflow_id")
        p.add_argument(
            "--as",
            dest="approver",
            required=True,
            metavar="ACTOR",
            help="who decides (directory); you (OS account@host) are recorded as the operator",
        )
        p.add_argument("--comment", default="")
        p.add_argument("--item", dest="approval_id", help="defaults to the run's pending item")
    status = sub.add_parser("status", help="show where a run stands")
    status.add_argument("workflow_id")
    status.add_argument("--json", action="store_true", help=JSON_HELP)
    pay = sub.add_parser("pay", help="record a customer payment in the (sandbox) billing system")
    pay.add_argument("invoice_number")
    pay.add_argument("amount", help="in currency units, e.g. 1250.00")
    pay.add_argument("--payment-id", help="defaults to one billing assigns")
    deal = sub.add_parser("deal", help="move a deal to another stage in the (sandbox) CRM")
    deal.add_argument("deal_id")
    deal.add_argument("--stage", required=True, choices=[s.value for s in DealStage])
    sign = sub.add_parser(
        "sign", help="sign a contract envelope in the (sandbox) e-signature system"
    )
    sign.add_argument("envelope_id")
    void = sub.add_parser("void", help="void an unpaid invoice (finance role)")
    void.add_argument("invoice_number")
    void.add_argument("--as", dest="approver", required=True, help="approver id (directory)")
    void.add_argument("--reason", required=True)
    webhooks = sub.add_parser("webhooks", help="webhook events that reached no workflow")
    actions = webhooks.add_subparsers(dest="action", required=True)
    dead_letters = actions.add_parser("dead-letters", help="list them")
    dead_letters.add_argument("--json", action="store_true", help=JSON_HELP)
    replay = actions.add_parser("replay", help="hand one to its workflow again")
    replay.add_argument("id", type=int)
    schedule_commands.add_parsers(sub)
    audit.add_parser(sub)
    systems.add_parser(sub)
    subscriptions.add_parser(sub)


def run(args: argparse.Namespace) -> int:
    """Run the command `args` names; its errors are one line on stderr and an exit status."""
    commands: dict[str, Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]] = {
        "start": _start,
        "approvals": _approvals,
        "approve": lambda a, s: _decide(a, s, Decision.APPROVE),
        "reject": lambda a, s: _decide(a, s, Decision.REJECT),
        "attention": _attention,
        "status": _status,
        "webhooks": _webhooks,
        "pay": _pay,
        "deal": _deal,
        "sign": _sign,
        "void": _void,
        **schedule_commands.COMMANDS,
        "audit": audit.command,
        "systems": systems.command,
        "subscriptions": subscriptions.command,
    }
    try:
        if args.command == "start":
            _load_request(args.process, args.file)  # bad input fails before any connection
        settings = load_settings()
        return asyncio.run(commands[args.command](args, settings))
    except (UsageError, SettingsError, BadAmount, BadInput, SchemaNotCurrent) as exc:
        print(f"backoffice: {exc}", file=sys.stderr)
        return USAGE
    except (TemporalUnreachable, VaultUnreachable, SandboxUnreachable, DatabaseUnreachable) as exc:
        print(f"backoffice {args.command}: {exc}", file=sys.stderr)
        return NOT_RUNNING
    except (
        WorkflowNotFound,
        UnknownApprover,
        SecretUnavailable,
        UnknownDeadLetter,
        SandboxRefused,
        ScheduleNotFound,
        schedule_commands.ReconciliationFailed,
        audit.NoAuditRows,
        DecisionUnconfirmed,
        RerunRefused,
    ) as exc:
        print(f"backoffice: {exc}", file=sys.stderr)
        return FAILED
    except Exception as exc:  # anything else: one line, not a traceback (BACKOFFICE_DEBUG shows it)
        if os.environ.get("BACKOFFICE_DEBUG"):
            raise
        print(
            f"backoffice {args.command}: failed: {type(exc).__name__}: {exc} "
            "(BACKOFFICE_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return FAILED
