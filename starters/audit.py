"""`backoffice audit <workflow-id> [--wide] [--json]`: every external call of a run, retries
included, from the audit rows, in time order.

The id is checked before anything is read (bad: exit 2, naming the argument); a workflow with
no audit rows exits 1 with a message.
"""

import argparse
import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, inspect, select

from runtime.db import AuditRow, as_utc, make_engine
from runtime.settings import Settings

# What our workflow ids are made of: business keys, dates, schedule timestamps.
WORKFLOW_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
WORKFLOW_ID_MAX = 200  # the width of http_audit.workflow_id


class NoAuditRows(Exception):
    """No external call is recorded for the workflow id."""


@dataclass(frozen=True)
class AuditedCall:
    """One HTTP attempt of a run, as `backoffice audit` shows it."""

    at: datetime
    workflow_id: str
    run_id: str | None
    activity_id: str | None
    activity_type: str | None
    system: str
    method: str
    path: str
    status: int | None
    attempt: int
    latency_ms: float
    error_code: str | None
    request_summary: str | None
    response_summary: str | None


def workflow_id_argument(value: str) -> str:
    """argparse type of the workflow id: the error names the argument and never echoes it (a
    mistyped id may be anything, an email included)."""
    if not value:
        raise argparse.ArgumentTypeError("is empty; give the id of a run, e.g. invoice-INV-1001")
    if len(value) > WORKFLOW_ID_MAX:
        raise argparse.ArgumentTypeError(
            f"is {len(value)} characters long; workflow ids have at most {WORKFLOW_ID_MAX}"
        )
    if not WORKFLOW_ID.match(value):
        raise argparse.ArgumentTypeError(
            "may hold only letters, digits and - _ . : (and starts with a letter or digit)"
        )
    return value


def audited_calls(engine: Engine, workflow_id: str) -> list[AuditedCall]:
    """Every audit row of the workflow (all its runs), oldest first."""
    if not inspect(engine).has_table(AuditRow.__tablename__):
        return []
    query = (
        select(AuditRow)
        .where(AuditRow.workflow_id == workflow_id)
        .order_by(AuditRow.at, AuditRow.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        AuditedCall(
            at=as_utc(row.at),
            workflow_id=workflow_id,
            run_id=row.run_id,
            activity_id=row.activity_id,
            activity_type=row.activity_type,
            system=row.system,
            method=row.method,
            path=row.path,
            status=row.status,
            attempt=row.attempt,
            latency_ms=row.latency_ms,
            error_code=row.error_code,
            request_summary=row.request_summary,
            response_summary=row.response_summary,
        )
        for row in rows
    ]


def table(calls: Sequence[AuditedCall], *, wide: bool = False) -> list[tuple[str, ...]]:
    """The rows of the printed table, header first."""
    header = ["TIME (UTC)", "ACTIVITY", "SYSTEM", "METHOD", "PATH", "STATUS", "ATTEMPT"]
    header += ["LATENCY MS", "ERROR"]
    if wide:
        header += ["RUN", "REQUEST", "RESPONSE"]
    rows = [tuple(header)]
    for c in calls:
        row = [
            c.at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
            c.activity_type or "-",
            c.system,
            c.method,
            c.path,
            "-" if c.status is None else str(c.status),
            str(c.attempt),
            f"{c.latency_ms:.0f}",
            c.error_code or "-",
        ]
        if wide:
            row += [c.run_id or "-", c.request_summary or "-", c.response_summary or "-"]
        rows.append(tuple(row))
    return rows


def as_json(calls: Sequence[AuditedCall]) -> str:
    def encoded(call: AuditedCall) -> dict[str, Any]:
        fields = asdict(call)
        fields["at"] = call.at.isoformat()
        fields["latency_ms"] = round(call.latency_ms, 1)
        return fields

    return json.dumps([encoded(c) for c in calls], indent=2)


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    audit = sub.add_parser(
        "audit", help="every external call of a run (retries included), in time order"
    )
    audit.add_argument("workflow_id", type=workflow_id_argument, help="e.g. invoice-INV-1001")
    audit.add_argument(
        "--wide", action="store_true", help="also the run id and the redacted body summaries"
    )
    audit.add_argument("--json", action="store_true", help="JSON for machines")


async def command(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings.resolved_database_url)
    try:
        calls = await asyncio.to_thread(audited_calls, engine, args.workflow_id)
    finally:
        engine.dispose()
    if not calls:
        raise NoAuditRows(
            f"no external calls recorded for workflow {args.workflow_id} "
            "(check the id; a run that has not called any system yet has none)"
        )
    if args.json:
        print(as_json(calls))
        return 0
    rows = table(calls, wide=args.wide)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    failed = sum(1 for c in calls if c.error_code)
    runs = len({c.run_id for c in calls})
    print(f"{len(calls)} calls, {failed} failed" + (f", across {runs} runs" if runs > 1 else ""))
    return 0
