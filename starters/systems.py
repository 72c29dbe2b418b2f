"""`backoffice systems` and `GET /v1/systems`: each external system's circuit breaker (state,
failures in the current window, when an open one probes), and opening or closing one by hand
for a planned outage (`backoffice systems open erp --reason "ERP upgrade until 18:00"`). Mail
(the SMTP relay) has one like every HTTP system."""

import argparse
import asyncio
import json
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import Engine

from domain.systems import System
from runtime.circuit import (
    CircuitState,
    close_by_hand,
    open_by_hand,
    read_all,
    view,
)
from runtime.db import make_engine
from runtime.schema import require_current_schema
from runtime.settings import Settings
from starters.approvals import operator_identity

BREAKER_SYSTEMS = list(System)
REASON_MAX = 200


class SystemState(BaseModel):
    system: str
    state: CircuitState
    failures: int
    probe_at: datetime | None
    opened_by_hand: str | None
    changed_at: datetime | None


def system_states(engine: Engine) -> list[SystemState]:
    rows = read_all(engine)
    states = []
    for system in BREAKER_SYSTEMS:
        shown = view(system.value, rows.get(system.value))
        states.append(
            SystemState(
                system=shown.system,
                state=shown.state,
                failures=shown.failures,
                probe_at=_moment(shown.probe_at),
                opened_by_hand=shown.opened_by_hand,
                changed_at=_moment(shown.changed_at),
            )
        )
    return states


def _moment(unix: float | None) -> datetime | None:
    return None if unix is None else datetime.fromtimestamp(unix, UTC)


def reason_argument(value: str) -> str:
    """argparse type of `--reason`: one line of printable text, what the table and log show."""
    value = value.strip()
    if not value:
        raise argparse.ArgumentTypeError("is empty; say why, e.g. 'ERP upgrade until 18:00'")
    if len(value) > REASON_MAX:
        raise argparse.ArgumentTypeError(f"has {len(value)} characters; at most {REASON_MAX}")
    if not value.isprintable():
        raise argparse.ArgumentTypeError("must be one line of printable text")
    return value


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    systems = sub.add_parser(
        "systems", help="each external system's circuit breaker; open or close one by hand"
    )
    systems.add_argument("--json", action="store_true", help="JSON for machines")
    actions = systems.add_subparsers(dest="action")
    names = [s.value for s in BREAKER_SYSTEMS]
    opened = actions.add_parser("open", help="stop calling a system (a planned outage)")
    opened.add_argument("system", choices=names)
    opened.add_argument("--reason", required=True, type=reason_argument)
    closed = actions.add_parser("close", help="call a system again")
    closed.add_argument("system", choices=names)


async def command(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings.resolved_database_url)
    try:
        await asyncio.to_thread(require_current_schema, engine)
        if args.action == "open":
            reason = f"{args.reason} (by {operator_identity()})"
            await asyncio.to_thread(open_by_hand, engine, args.system, reason)
            print(f"{args.system}: breaker open until `backoffice systems close {args.system}`")
            return 0
        if args.action == "close":
            await asyncio.to_thread(close_by_hand, engine, args.system)
            print(f"{args.system}: breaker closed")
            return 0
        states = await asyncio.to_thread(system_states, engine)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps([s.model_dump(mode="json") for s in states], indent=2))
        return 0
    rows = [("SYSTEM", "BREAKER", "FAILURES", "PROBES AT", "OPENED BY HAND")]
    for s in states:
        probe = s.probe_at.strftime("%Y-%m-%d %H:%M:%S") if s.probe_at else "-"
        rows.append((s.system, s.state.value, str(s.failures), probe, s.opened_by_hand or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0
