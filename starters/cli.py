"""The operator and approver CLI: start processes, list and decide approvals, show a run."""

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from domain.approvals import Decision
from domain.validation import describe_errors
from domain.vendor import VendorApplication
from runtime.settings import Settings, SettingsError, load_settings
from runtime.temporal import connect
from runtime.vault import SecretUnavailable, secret_store
from starters.approvals import WorkflowNotFound, decide, pending_approvals, workflow_status
from starters.directory import Directory, UnknownApprover
from starters.start import start_vendor_onboarding


class UsageError(Exception):
    """Bad input from the command line; nothing was started or changed."""


def _load_application(path: str) -> VendorApplication:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return VendorApplication.model_validate_json(text)
    except ValidationError as exc:
        problems = "\n  ".join(describe_errors(exc))
        raise UsageError(f"{path} is not a valid vendor application:\n  {problems}") from None


async def _start(args: argparse.Namespace, settings: Settings) -> int:
    application = _load_application(args.file)
    outcome = await start_vendor_onboarding(await connect(), settings, application)
    verb = "already exists" if outcome.already_existed else "started"
    print(f"{outcome.workflow_id} {verb} (run {outcome.run_id})")
    print(f"Web UI: {outcome.web_ui_url}")
    return 0


async def _approvals(args: argparse.Namespace, settings: Settings) -> int:
    views = await pending_approvals(await connect(), settings, args.role)
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
    return 0


async def _decide(args: argparse.Namespace, settings: Settings, decision: Decision) -> int:
    approver = await Directory(secret_store(settings)).get(args.approver)
    outcome = await decide(
        await connect(), approver, args.workflow_id, decision, args.comment, args.approval_id
    )
    if outcome.accepted:
        print(f"accepted: {outcome.reason} (status {outcome.status})")
        return 0
    print(f"refused ({outcome.code}): {outcome.reason}", file=sys.stderr)
    return 1


async def _status(args: argparse.Namespace, settings: Settings) -> int:
    status = await workflow_status(await connect(), args.workflow_id)
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
        print(f"  decision: {d.decision.value} by {d.approver} via {d.channel} ({mark})")
    for c in status.compensations:
        print(f"  undone: {c}")
    if status.outcome:
        print(f"  outcome: {status.outcome}")
    if status.problem:
        print(f"  problem: {status.problem}")
    return 0


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backoffice", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start a process from a JSON file")
    start.add_argument("process", choices=["vendor-onboarding"])
    start.add_argument("file")
    approvals = sub.add_parser("approvals", help="list pending approvals")
    approvals.add_argument("--role", help="only approvals this role may decide")
    for name in ("approve", "reject"):
        p = sub.add_parser(name, help=f"{name} a pending approval")
        p.add_argument("workflow_id")
        p.add_argument("--as", dest="approver", required=True, help="approver id (directory)")
        p.add_argument("--comment", default="")
        p.add_argument("--approval-id", help="defaults to the workflow's pending approval")
    status = sub.add_parser("status", help="show where a run stands")
    status.add_argument("workflow_id")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands: dict[str, Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]] = {
        "start": _start,
        "approvals": _approvals,
        "approve": lambda a, s: _decide(a, s, Decision.APPROVE),
        "reject": lambda a, s: _decide(a, s, Decision.REJECT),
        "status": _status,
    }
    try:
        if args.command == "start":
            _load_application(args.file)  # bad input fails before any connection is made
        settings = load_settings()
        return asyncio.run(commands[args.command](args, settings))
    except (UsageError, SettingsError) as exc:
        print(f"backoffice: {exc}", file=sys.stderr)
        return 2
    except (WorkflowNotFound, UnknownApprover, SecretUnavailable) as exc:
        print(f"backoffice: {exc}", file=sys.stderr)
        return 1
