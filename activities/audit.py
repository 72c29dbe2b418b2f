"""The audit log: one row per HTTP attempt, written off the event loop; bodies only summarized,
and every text of a row redacted by `runtime.redaction` (the same redaction as the logs)."""

import asyncio
import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert
from temporalio import activity

from runtime.db import AuditRow
from runtime.redaction import redact_text, redact_value

# Fields whose values a summary names but never shows.
SUMMARY_KEYS_SHOWN = ("id", "status", "code")


@dataclass(frozen=True)
class AuditEntry:
    system: str
    method: str
    path: str
    status: int | None
    latency_ms: float
    attempt: int
    workflow_id: str | None
    run_id: str | None
    activity_id: str | None
    activity_type: str | None
    error_code: str | None
    request_summary: str | None
    response_summary: str | None


def summarize_request(body: Any) -> str | None:
    """Field names only: values of a request body may be personal or secret."""
    if body is None:
        return None
    if isinstance(body, dict):
        return redact_text("fields: " + ", ".join(sorted(str(k) for k in body)))
    return f"<{type(body).__name__}>"


def summarize_response(raw: bytes) -> str | None:
    """Identifiers and status of a response, nothing else."""
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        return f"<{len(raw)} bytes, not JSON>"
    if isinstance(parsed, dict):
        if isinstance(parsed.get("error"), dict):
            parsed = parsed["error"]
        shown = {k: parsed[k] for k in SUMMARY_KEYS_SHOWN if isinstance(parsed.get(k), str | int)}
        summary = (
            json.dumps(redact_value(shown), sort_keys=True)
            if shown
            else "fields: " + ", ".join(sorted(parsed))
        )
        return redact_text(summary)
    return f"<{type(parsed).__name__}>"


def attempt(
    system: str,
    method: str,
    path: str,
    status: int | None,
    started: float,
    error_code: str | None,
    body: Any,
    raw: bytes,
) -> AuditEntry:
    """The audit entry of one HTTP attempt made now, with the activity it belongs to."""
    info = activity.info() if activity.in_activity() else None
    return AuditEntry(
        system=system,
        method=method,
        path=redact_text(path),
        status=status,
        latency_ms=(time.perf_counter() - started) * 1000,
        attempt=info.attempt if info else 1,
        workflow_id=info.workflow_id if info else None,
        run_id=info.workflow_run_id if info else None,
        activity_id=info.activity_id if info else None,
        activity_type=info.activity_type if info else None,
        error_code=redact_text(error_code) if error_code else None,
        request_summary=summarize_request(body),
        response_summary=summarize_response(raw),
    )


# One statement for every row, its values bound as parameters: SQLAlchemy compiles it once (a
# statement built with `.values(...)` per row cost three times the CPU).
INSERT = insert(AuditRow)


class AuditLog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        """The app database the rows go to (the circuit breakers live there too)."""
        return self._engine

    async def record(self, entry: AuditEntry) -> None:
        await asyncio.to_thread(self._insert, entry)

    def _insert(self, entry: AuditEntry) -> None:
        with self._engine.begin() as conn:
            conn.execute(INSERT, {"at": datetime.now(UTC), **asdict(entry)})
