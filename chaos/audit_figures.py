"""Figures from the audit rows of a plan: attempts per call, what the systems answered, whether
each `Retry-After` was waited out, and how many attempts the busiest call needed."""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from chaos.evidence import AuditAttempt
from domain.errors import ErrorCode

# Slack for the clocks of two processes and the rounding of the audit timestamps.
SLACK_SECONDS = 0.05


@dataclass
class AttemptFigures:
    attempts: int
    calls: int  # distinct (workflow, activity) pairs that made HTTP calls
    rate_limited: int  # 429 answers
    honoured: int  # retries after a 429 that waited at least its Retry-After
    retried_after_429: int
    server_errors: int  # 5xx answers
    timeouts: int  # no answer within the HTTP timeout
    # The most attempts of one activity that sent a request: an attempt that an open circuit
    # breaker refused (`CIRCUIT_OPEN`, nothing sent) is no load on the system.
    max_attempt: int
    circuit_refused: int  # attempts an open breaker refused


def since(rows: Sequence[AuditAttempt], start: datetime) -> list[AuditAttempt]:
    return [row for row in rows if row.at >= start]


def attempt_figures(
    rows: Sequence[AuditAttempt], retry_after: Mapping[str, float]
) -> AttemptFigures:
    """`retry_after`: the Retry-After (seconds) each system's 429 answers carried."""
    by_call: dict[tuple[str | None, str | None], list[AuditAttempt]] = defaultdict(list)
    sent: dict[tuple[str | None, str | None], set[int]] = defaultdict(set)
    for row in rows:
        by_call[(row.workflow_id, row.activity_id)].append(row)
        if row.error_code != ErrorCode.CIRCUIT_OPEN:
            sent[(row.workflow_id, row.activity_id)].add(row.attempt)
    honoured = retried = 0
    for calls in by_call.values():
        calls.sort(key=lambda r: r.at)
        for i, row in enumerate(calls):
            if row.status != 429:
                continue
            later = next((r for r in calls[i + 1 :] if r.attempt > row.attempt), None)
            if later is None:
                continue
            retried += 1
            waited = (later.at - row.at).total_seconds()
            if waited + SLACK_SECONDS >= retry_after.get(row.system, 0.0):
                honoured += 1
    return AttemptFigures(
        attempts=len(rows),
        calls=len(by_call),
        rate_limited=sum(1 for r in rows if r.status == 429),
        honoured=honoured,
        retried_after_429=retried,
        server_errors=sum(1 for r in rows if r.status is not None and r.status >= 500),
        timeouts=sum(1 for r in rows if r.status is None and "Timeout" in (r.error_code or "")),
        max_attempt=max((len(attempts) for attempts in sent.values()), default=0),
        circuit_refused=sum(1 for r in rows if r.error_code == ErrorCode.CIRCUIT_OPEN),
    )
