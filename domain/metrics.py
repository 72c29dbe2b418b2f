"""The business metrics' names, labels and buckets: one list for the code that records them, the
Prometheus endpoints that serve them (beside the Temporal SDK's own), the docs and the tests.

Labels carry roles, systems, error codes and outcomes only: never a name, an email or an id of a
person or a record.
"""

from enum import StrEnum

# Histogram, seconds from an approval's request to its outcome; labels `role` (the role it was
# requested from) and `outcome` (approved, rejected, expired).
APPROVAL_LATENCY = "backoffice_approval_latency_seconds"
# Counter; labels `compensation` (the step undone) and `outcome` (ok, failed); the SDK adds
# `workflow_type` (the process).
COMPENSATIONS = "backoffice_compensations_total"
# Counter of failed HTTP attempts (one per audit row with an error code); labels `system` and
# `code` (the system's error code, `HTTP_<status>`, or the transport error).
EXTERNAL_API_ERRORS = "backoffice_external_api_errors_total"
# Counter of webhook deliveries the API received; labels `system` and `outcome`.
WEBHOOK_EVENTS = "backoffice_webhook_events_total"
# Gauge, from Temporal visibility: running workflows whose approval waits for `role`.
APPROVALS_PENDING = "backoffice_approvals_pending"
# Gauge, likewise: those of them pending longer than their due time (`approval_remind_after`).
APPROVALS_OVERDUE = "backoffice_approvals_overdue"
# Gauge, likewise: running workflows with `Stage` = attention_needed (the review queue, and
# problems shown while a run goes on).
RUNS_NEEDING_ATTENTION = "backoffice_runs_attention_needed"
# Each external system's circuit breaker: 0 closed, 1 half-open, 2 open (runtime/circuit.py).
CIRCUIT_STATE = "backoffice_circuit_state"

# Approvals take seconds in a test and days in production.
APPROVAL_LATENCY_BUCKETS = [
    1.0,
    10.0,
    60.0,
    300.0,
    900.0,
    3600.0,
    4 * 3600.0,
    8 * 3600.0,
    86400.0,
    2 * 86400.0,
    4 * 86400.0,
    7 * 86400.0,
    14 * 86400.0,
]


class CompensationOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"


class WebhookOutcome(StrEnum):
    """`delivered` (applied: signalled to its workflow), `duplicate`, `ignored` (no process listens
    to that event type), `dead_letter`, and the refusals before the inbox: `bad_signature`,
    `invalid_event`, `unavailable` (secrets unreadable), `busy` (being handled)."""

    DELIVERED = "delivered"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    DEAD_LETTER = "dead_letter"
    BAD_SIGNATURE = "bad_signature"
    INVALID_EVENT = "invalid_event"
    UNAVAILABLE = "unavailable"
    BUSY = "busy"
