"""The suite's checks can fail: each is fed a ledger, an inbox, a run or a history that breaks
its invariant, and must say so (and stay quiet on one that keeps it)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import h11
import httpx
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import (
    HistoryEvent,
    TimerFiredEventAttributes,
    TimerStartedEventAttributes,
    WorkflowTaskFailedEventAttributes,
)
from temporalio.client import WorkflowHistory

from backoffice.cli.chaos import main as chaos_main
from backoffice.cli.chaos import parse_duration
from chaos import canaries, histories
from chaos.audit_figures import attempt_figures
from chaos.evidence import AuditAttempt, Evidence, InboxRow
from chaos.invariants import (
    APPROVALS,
    COMPENSATIONS,
    ONE_RECORD,
    OUTCOMES,
    WEBHOOKS,
    check_all,
    check_approvals,
    check_end_states,
    check_one_record,
    check_outcomes,
    check_webhooks,
)
from chaos.plans.bad_input import garbage_header_values
from chaos.plans.soak import _memory_trend
from chaos.report import markdown, table
from chaos.scenarios import DecisionMade, RunRecord
from chaos.session import PlanResult, SessionOptions, SessionReport
from starters.webhooks.signature import HEADER

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def record(
    system: str, kind: str, rid: str, status: str = "active", **fields: Any
) -> dict[str, Any]:
    external_ref = fields.pop("external_ref", None)
    return {
        "system": system,
        "kind": kind,
        "id": rid,
        "external_ref": external_ref,
        "status": status,
        "data": fields,
    }


def email(key: str, notification: str, rid: str) -> dict[str, Any]:
    return record(
        "mail", "message", rid, "sent", tags={"business_key": key, "notification": notification}
    )


def event(system: str, rid: str, action: str) -> dict[str, Any]:
    return {"system": system, "record_id": rid, "action": action}


def evidence(records=(), events=(), webhook_events=(), inbox=(), statuses=None) -> Evidence:
    return Evidence(
        records=list(records),
        events=list(events),
        webhook_events=list(webhook_events),
        inbox=list(inbox),
        audit=[],
        statuses=statuses or {},
    )


def run(**fields: Any) -> RunRecord:
    base: dict[str, Any] = {
        "process": "VendorOnboarding",
        "variant": "supplier",
        "workflow_id": "vendor-onboarding-APP-1",
        "business_key": "APP-1",
        "expected_status": "COMPLETED",
        "expected_outcome": "onboarded",
        "closed_status": "COMPLETED",
        "outcome": "onboarded",
    }
    return RunRecord(**{**base, **fields})


def onboarded_records(key: str = "APP-1") -> list[dict[str, Any]]:
    return [
        record("erp", "vendor", "V-1", external_ref=key),
        record("portal", "account", "ACC-1", external_ref=key),
        record("erp", "approved_supplier", "AS-1", "listed", vendor_id="V-1"),
        email(key, "welcome", "M-1"),
    ]


# ----- outcomes ---------------------------------------------------------------------------


def test_outcomes_hold_for_runs_that_ended_as_expected():
    assert check_outcomes([run()]) == []


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"closed_status": None}, "stuck"),
        ({"closed_status": "FAILED", "outcome": "http_error"}, "expected COMPLETED onboarded"),
        ({"driver_error": "gave up after 240 s"}, "gave up"),
    ],
)
def test_outcomes_report_stuck_failed_and_abandoned_runs(fields, says):
    [violation] = check_outcomes([run(**fields)])
    assert violation.invariant == OUTCOMES and says in violation.detail


# ----- one record per key -----------------------------------------------------------------


def test_one_record_per_key_holds_for_distinct_keys():
    other = record("erp", "vendor", "V-2", external_ref="APP-2")
    assert check_one_record(evidence([*onboarded_records("APP-1"), other])) == []


@pytest.mark.parametrize(
    "twice",
    [
        [record("erp", "vendor", "V-1", external_ref="APP-1"),
         record("erp", "vendor", "V-2", external_ref="APP-1")],
        [email("INV-1", "invoice", "M-1"), email("INV-1", "invoice", "M-2")],
        [record("billing", "invoice", "INV-000001", number="INV-1"),
         record("billing", "invoice", "INV-000002", number="INV-1")],
        [record("crm", "lead", "LEAD-1", email="A@x.example"),
         record("crm", "lead", "LEAD-2", email="a@x.example")],
    ],
)  # fmt: skip
def test_one_record_per_key_finds_a_duplicate(twice):
    [violation] = check_one_record(evidence(twice))
    assert violation.invariant == ONE_RECORD and "2 records" in violation.detail


# ----- compensations and end states -------------------------------------------------------


def test_an_onboarded_vendor_with_everything_in_place_holds():
    assert check_end_states([run()], evidence(onboarded_records())) == []


def test_onboarded_but_vendor_deactivated_is_caught():
    records = onboarded_records()
    records[0]["status"] = "inactive"
    [violation] = check_end_states([run()], evidence(records))
    assert violation.invariant == COMPENSATIONS and "vendor is inactive" in violation.detail


def compensated(vendor_deactivations: int, cancellations: int) -> Evidence:
    records = [
        record("erp", "vendor", "V-1", "inactive", external_ref="APP-1"),
        *[email("APP-1", "cancellation", f"M-{n}") for n in range(cancellations)],
    ]
    events = [event("erp", "V-1", "deactivated")] * vendor_deactivations
    return evidence(records, events)


def test_a_compensation_once_per_completed_step_holds():
    failed = run(closed_status="FAILED", outcome="portal_down", expected_status="FAILED",
                 expected_outcome="portal_down")  # fmt: skip
    assert check_end_states([failed], compensated(1, 1)) == []


@pytest.mark.parametrize(
    ("deactivations", "cancellations", "says"),
    [
        (2, 1, "deactivated 2 times"),
        (0, 1, "deactivated 0 times"),
        (1, 0, "0 cancellation emails"),
    ],
)
def test_a_compensation_twice_or_missing_is_caught(deactivations, cancellations, says):
    failed = run(closed_status="FAILED", outcome="portal_down")
    found = check_end_states([failed], compensated(deactivations, cancellations))
    assert [v.invariant for v in found] == [COMPENSATIONS]
    assert says in found[0].detail


def test_a_compensation_listed_twice_by_the_run_is_caught():
    failed = run(closed_status="FAILED", outcome="portal_down")
    twice = compensated(1, 1)
    twice.statuses["vendor-onboarding-APP-1"] = {
        "compensations": ["vendor V-1 deactivated", "vendor V-1 deactivated"]
    }
    [violation] = check_end_states([failed], twice)
    assert "compensation ran 2 times: vendor V-1 deactivated" in violation.detail


def test_a_paid_invoice_emailed_twice_is_caught():
    paid = run(process="InvoiceGeneration", workflow_id="invoice-INV-1", business_key="INV-1",
               outcome="paid", expected_outcome="paid")  # fmt: skip
    records = [
        record("billing", "invoice", "INV-000001", "paid", number="INV-1"),
        email("INV-1", "invoice", "M-1"),
        email("INV-1", "invoice", "M-2"),
    ]
    found = check_end_states([paid], evidence(records))
    assert any("2 invoice emails" in v.detail for v in found)


def test_a_nurtured_lead_with_a_deal_is_caught():
    nurtured = run(process="LeadToCash", workflow_id="lead-to-cash-L1", business_key="L1",
                   outcome="nurtured", expected_outcome="nurtured")  # fmt: skip
    records = [
        # The CRM keeps a deal's external ref inside its data, as the sandbox does.
        {**record("crm", "deal", "DEAL-1", "qualification"), "data": {"external_ref": "L1"}},
        email("L1", "nurture-1", "M-1"),
    ]
    [violation] = check_end_states([nurtured], evidence(records))
    assert "DEAL-1 exists" in violation.detail


# ----- webhooks ---------------------------------------------------------------------------


def paid_event(event_id: str = "evt_1") -> dict[str, Any]:
    return {
        "id": event_id,
        "system": "billing",
        "type": "invoice.paid",
        "delivery_status": "delivered",
        "data": {
            "object": {"id": "in_1", "amount_paid": 100, "metadata": {"invoice_number": "INV-1"}}
        },
    }


def inbox(status: str = "delivered", event_id: str = "evt_1") -> InboxRow:
    return InboxRow(
        system="billing",
        event_id=event_id,
        event_type="invoice.paid",
        status=status,
        workflow_id="invoice-INV-1",
        deliveries=2,
    )


def paid_status(times: int) -> dict[str, Any]:
    return {
        "invoice-INV-1": {"steps_done": ["draft invoice in_1"] + ["payment in_1@100: 100"] * times}
    }


def test_a_webhook_applied_once_holds():
    assert check_webhooks(evidence(webhook_events=[paid_event()], inbox=[inbox()],
                                   statuses=paid_status(1))) == []  # fmt: skip


@pytest.mark.parametrize(
    ("rows", "times", "says"),
    [
        ([], 1, "not in inbox"),
        ([inbox("received")], 1, "stuck"),
        ([inbox()], 2, "applied 2 times"),
        ([inbox()], 0, "applied 0 times"),
    ],
)
def test_a_lost_stuck_or_doubled_webhook_is_caught(rows, times, says):
    found = check_webhooks(
        evidence(webhook_events=[paid_event()], inbox=rows, statuses=paid_status(times))
    )
    assert [v.invariant for v in found] == [WEBHOOKS] and says in found[0].detail


def test_an_event_the_system_gave_up_on_is_lost():
    given_up = {**paid_event(), "delivery_status": "failed", "attempts": 8}
    [violation] = check_webhooks(evidence(webhook_events=[given_up]))
    assert violation.invariant == WEBHOOKS and "lost" in violation.detail


# ----- approvals --------------------------------------------------------------------------


def approval_status(decided_by: str, accepted_decisions: int) -> dict[str, Any]:
    decision = {"approval_id": "risk-review", "approver": decided_by, "accepted": True,
                "channel": "update"}  # fmt: skip
    return {
        "vendor-onboarding-APP-1": {
            "approvals": [
                {"request": {"approval_id": "risk-review"}, "status": "approved",
                 "decided_by": decided_by}
            ],
            "decisions": [decision] * accepted_decisions,
        }
    }  # fmt: skip


def decided(accepted: bool = True) -> RunRecord:
    made = DecisionMade(
        approval_id="risk-review",
        approver="pat",
        decision="approve",
        accepted=accepted,
        api_calls=1,
    )
    return run(decisions=[made])


def test_a_decision_accepted_once_and_kept_holds():
    assert check_approvals([decided()], evidence(statuses=approval_status("pat", 1))) == []


@pytest.mark.parametrize(
    ("runs", "status", "says"),
    [
        ([decided()], approval_status("olga", 1), "lost"),
        ([decided()], approval_status("pat", 2), "decided 2 times"),
        ([decided(accepted=False)], approval_status("pat", 1), "refused"),
    ],
)
def test_a_lost_doubled_or_refused_decision_is_caught(runs, status, says):
    found = check_approvals(runs, evidence(statuses=status))
    assert found and all(v.invariant == APPROVALS for v in found)
    assert any(says in v.detail for v in found)


def test_check_all_collects_every_kind():
    bad = run(closed_status=None)
    twice = [
        record("erp", "vendor", "V-1", external_ref="X"),
        record("erp", "vendor", "V-2", external_ref="X"),
    ]
    found = check_all([bad], evidence(twice))
    assert {v.invariant for v in found} == {OUTCOMES, ONE_RECORD}


# ----- audit figures, histories, memory, canaries -------------------------------------------


def attempt(
    at: float,
    attempt: int,
    status: int | None,
    system: str = "crm",
    error_code: str | None = None,
) -> AuditAttempt:
    return AuditAttempt(
        at=T0 + timedelta(seconds=at),
        workflow_id="w",
        activity_id="1",
        activity_type="crm.create_deal",
        attempt=attempt,
        system=system,
        method="POST",
        path="/deals",
        status=status,
        latency_ms=5.0,
        error_code=error_code,
    )


def test_retry_after_waited_out_or_not():
    honoured = attempt_figures([attempt(0, 1, 429), attempt(2.1, 2, 201)], {"crm": 2.0})
    assert (honoured.honoured, honoured.retried_after_429) == (1, 1)
    early = attempt_figures([attempt(0, 1, 429), attempt(0.5, 2, 201)], {"crm": 2.0})
    assert (early.honoured, early.retried_after_429) == (0, 1)
    assert early.max_attempt == 2 and early.rate_limited == 1


def test_attempts_an_open_breaker_refused_sent_nothing():
    rows = [attempt(0, 1, 503)]
    rows += [attempt(n, n, None, error_code="CIRCUIT_OPEN") for n in range(2, 14)]
    rows += [attempt(14, 14, 201)]
    figures = attempt_figures(rows, {})
    assert (figures.max_attempt, figures.circuit_refused, figures.attempts) == (2, 12, 14)


def _at(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(T0 + timedelta(seconds=seconds))
    return stamp


def test_histories_show_non_determinism_and_timer_lateness():
    timer = Duration()
    timer.FromTimedelta(timedelta(seconds=5))
    events = [
        HistoryEvent(
            event_id=5,
            event_time=_at(0),
            event_type=EventType.EVENT_TYPE_TIMER_STARTED,
            timer_started_event_attributes=TimerStartedEventAttributes(
                timer_id="1", start_to_fire_timeout=timer
            ),
        ),
        HistoryEvent(
            event_id=9,
            event_time=_at(7.5),
            event_type=EventType.EVENT_TYPE_TIMER_FIRED,
            timer_fired_event_attributes=TimerFiredEventAttributes(
                timer_id="1", started_event_id=5
            ),
        ),
        HistoryEvent(
            event_id=12,
            event_time=_at(8),
            event_type=EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
            workflow_task_failed_event_attributes=WorkflowTaskFailedEventAttributes(
                cause=histories.NON_DETERMINISTIC
            ),
        ),
    ]
    seen = histories.examine([WorkflowHistory("w", events)])
    assert seen.nondeterminism_failures == 1 and seen.workflow_task_failures == 1
    assert seen.timer_lateness == [pytest.approx(2.5)]


def test_memory_growth_after_warm_up_is_a_trend():
    flat = [(float(t), 150.0 + (t % 2)) for t in range(0, 600, 5)]
    growing = [(float(t), 150.0 + t * 0.5) for t in range(0, 600, 5)]
    assert _memory_trend(flat, 600) == []
    [violation] = _memory_trend(growing, 600)
    assert "grew" in violation.detail


def test_a_canary_is_found_as_text_and_inside_base64():
    import base64

    canary = {"secret": "canary-secret-0123456789"}
    for shift in range(3):
        blob = base64.b64encode(b"x" * shift + b"canary-secret-0123456789 and more").decode()
        assert canaries.count_in(blob, canary)["secret"] == 1
    assert canaries.count_in('{"key": "canary-secret-0123456789"}', canary)["secret"] == 1
    assert canaries.count_in("nothing here", canary)["secret"] == 0


# ----- the report and the command line ----------------------------------------------------


def _report(held: bool) -> SessionReport:
    violations = [] if held else check_outcomes([run(closed_status=None)])
    result = PlanResult(
        plan="worker-kill",
        title="The worker is killed.",
        seconds=12.0,
        started=1,
        as_expected=1 if held else 0,
        figures={"worker SIGKILLs": 2, "non-determinism errors (live)": 0},
        violations=violations,
        runs=[run()],
    )
    options = SessionOptions(
        plans=["worker-kill"], runs=1, duration_seconds=120, short=True, seed=7
    )
    return SessionReport(options=options, started_at=T0, seconds=30.0, results=[result])


def test_the_report_shows_plans_figures_and_violations():
    text = markdown(_report(held=False), "backoffice chaos --plan worker-kill")
    assert text.startswith("# Reliability")
    assert "2026-11-20 12:00 UTC, on commit" in text
    assert "| worker-kill | 0/1 | **1 violated** | 12 |" in text
    assert "| worker SIGKILLs | 2 |" in text
    assert "still running (stuck)" in text
    assert "INVARIANTS VIOLATED" in table(_report(held=False))
    assert "every invariant held" in markdown(_report(held=True), "backoffice chaos")


@pytest.mark.parametrize("text", ["", "10x", "5s", "m"])
def test_bad_durations_are_refused(text):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="--duration"):
        parse_duration(text)


def test_durations_parse():
    assert parse_duration("10m") == 600 and parse_duration("1m30s") == 90
    assert parse_duration("45") == 45


def test_an_unknown_plan_is_refused_before_anything_starts(capsys):
    with pytest.raises(SystemExit) as exited:
        chaos_main(["--plan", "worker-kill,meteor-strike", "--no-report"])
    assert exited.value.code == 2
    assert "unknown plan meteor-strike" in capsys.readouterr().err


def test_a_missing_data_dir_is_refused_before_anything_starts(capsys, tmp_path):
    missing = tmp_path / "not-there"
    with pytest.raises(SystemExit) as exited:
        chaos_main(["--plan", "bad-input", "--no-report", "--data-dir", str(missing)])
    assert exited.value.code == 2
    assert f"--data-dir: {missing} is not a directory" in capsys.readouterr().err
    assert not missing.exists()


@settings(max_examples=500, database=None, deadline=None)
@given(value=garbage_header_values())
def test_the_fuzz_sends_only_header_values_http_allows(value: str) -> None:
    """A value the HTTP client refuses to send stopped the whole bad-input plan (CI: ' ed%t')."""
    httpx.Request("POST", "http://api.invalid/webhooks/crm", headers={HEADER: value})
    h11.Request(method="POST", target="/", headers=[("Host", "api.invalid"), (HEADER, value)])
