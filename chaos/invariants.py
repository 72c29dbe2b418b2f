"""The promise, as checks: every run ended as it should, nothing exists twice, compensations ran
once per completed step, every delivered webhook was applied exactly once, every approval
decision was taken once and kept. Each check returns the violations it found (none: it held).
"""

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pydantic import BaseModel

from chaos.evidence import Evidence, Ledger
from chaos.scenarios import RunRecord
from domain import contract


class Violation(BaseModel):
    invariant: str
    detail: str


OUTCOMES = "every run reached its expected outcome"
ONE_RECORD = "one record per business key"
COMPENSATIONS = "compensations once per completed step; systems end where the outcome says"
WEBHOOKS = "every webhook delivered (none given up) and applied exactly once"
APPROVALS = "every approval decision accepted once, none lost"
INVARIANTS = (OUTCOMES, ONE_RECORD, COMPENSATIONS, WEBHOOKS, APPROVALS)

# Billing's Stripe events that hand a payment over (`starters/webhooks/routes.py`).
PAYMENT_EVENTS = ("invoice.paid", "invoice.updated")

# The business key of each kind of record, in the system that holds it.
_KeyOf = Callable[[dict[str, Any]], str | None]
_RECORD_KEYS: dict[tuple[str, str], _KeyOf] = {
    ("erp", "vendor"): lambda r: r.get("external_ref"),
    ("erp", "approved_supplier"): lambda r: r["data"].get("vendor_id"),
    ("portal", "account"): lambda r: r.get("external_ref"),
    ("crm", "lead"): lambda r: str(r["data"].get("email", "")).lower() or None,
    ("crm", "deal"): lambda r: r["data"].get("external_ref"),
    ("crm", "account"): lambda r: r["data"].get("domain"),
    ("billing", "customer"): lambda r: r.get("external_ref"),
    ("billing", "invoice"): lambda r: r["data"].get("number"),
    ("billing", "payment"): lambda r: r.get("external_ref"),
    ("esign", "envelope"): lambda r: r.get("external_ref"),
    ("mail", "message"): lambda r: _notification_key(r),
}


def _notification_key(record: dict[str, Any]) -> str | None:
    tags = record["data"].get("tags") or {}
    if not tags.get("business_key") or not tags.get("notification"):
        return None
    return f"{tags['business_key']} {tags['notification']}"


def check_outcomes(runs: Sequence[RunRecord]) -> list[Violation]:
    found = []
    for run in runs:
        name = run.workflow_id or f"{run.process}/{run.variant} (never started)"
        if run.driver_error is not None:
            found.append(Violation(invariant=OUTCOMES, detail=f"{name}: {run.driver_error}"))
        elif run.closed_status is None:
            found.append(Violation(invariant=OUTCOMES, detail=f"{name}: still running (stuck)"))
        elif not run.as_expected:
            found.append(
                Violation(
                    invariant=OUTCOMES,
                    detail=f"{name}: ended {run.closed_status} {run.outcome} ({run.problem}), "
                    f"expected {run.expected_status} {run.expected_outcome}",
                )
            )
    return found


def duplicates(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str, str], int]:
    """(system, kind, business key) -> how many records, for every key held more than once."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for record in records:
        key_of = _RECORD_KEYS.get((record["system"], record["kind"]))
        key = key_of(record) if key_of else None
        if key:
            counts[(record["system"], record["kind"], key)] += 1
    return {key: n for key, n in counts.items() if n > 1}


def check_one_record(evidence: Evidence) -> list[Violation]:
    return [
        Violation(invariant=ONE_RECORD, detail=f"{system} {kind} {key}: {n} records")
        for (system, kind, key), n in sorted(duplicates(evidence.records).items())
    ]


def check_end_states(runs: Sequence[RunRecord], evidence: Evidence) -> list[Violation]:
    ledger = evidence.ledger
    found: list[Violation] = []
    for run in runs:
        if run.closed_status is None or not run.business_key:
            continue  # a stuck run is reported by check_outcomes
        problems: list[str] = []
        if run.process == contract.VENDOR_ONBOARDING:
            problems = _vendor_end_state(run, ledger)
        elif run.process == contract.INVOICE_GENERATION:
            problems = _invoice_end_state(run.business_key, run.outcome, ledger)
        elif run.process == contract.LEAD_TO_CASH:
            problems = _lead_end_state(run, ledger)
        elif run.process == contract.SUBSCRIPTION:
            problems = _subscription_end_state(run, ledger)
        undone = (evidence.statuses.get(run.workflow_id) or {}).get("compensations", [])
        problems += [
            f"compensation ran {n} times: {step}" for step, n in Counter(undone).items() if n > 1
        ]
        found.extend(
            Violation(invariant=COMPENSATIONS, detail=f"{run.workflow_id}: {p}") for p in problems
        )
    return found


def _one(records: list[dict[str, Any]], what: str, problems: list[str]) -> dict[str, Any] | None:
    if len(records) > 1:
        problems.append(f"{len(records)} {what}")
    return records[0] if records else None


def _undone_once(
    ledger: Ledger, record: dict[str, Any] | None, action: str, what: str, problems: list[str]
) -> None:
    """A record the run created was undone exactly once; one it never created, not at all."""
    if record is None:
        return
    times = ledger.actions(record, action)
    if times != 1:
        problems.append(f"{what} {record['id']} {action} {times} times (expected once)")


def _vendor_end_state(run: RunRecord, ledger: Ledger) -> list[str]:
    key = run.business_key
    problems: list[str] = []
    vendor = _one(ledger.of(key, "vendor"), "vendors", problems)
    portal = _one([r for r in ledger.of(key, "account") if r["system"] == "portal"], "portal "
                  "accounts", problems)  # fmt: skip
    listed = [
        r
        for r in ledger.records
        if vendor is not None and r["kind"] == "approved_supplier"
        and r["data"].get("vendor_id") == vendor["id"]
    ]  # fmt: skip
    entry = _one(listed, "supplier list entries", problems)
    welcome = len(ledger.notifications(key, "welcome"))
    cancellation = len(ledger.notifications(key, "cancellation"))
    if run.outcome == "onboarded":
        for record, what, status in (
            (vendor, "vendor", "active"),
            (portal, "portal account", "active"),
            (entry, "supplier list entry", "listed"),
        ):
            if record is None or record["status"] != status:
                problems.append(f"onboarded, but its {what} is {record and record['status']}")
        if (welcome, cancellation) != (1, 0):
            problems.append(f"onboarded with {welcome} welcome, {cancellation} cancellation emails")
    elif run.outcome == "invalid":
        if vendor or portal or welcome or cancellation:
            problems.append("refused as invalid, yet something was created or sent")
    elif run.closed_status != "COMPLETED":
        _undone_once(ledger, vendor, "deactivated", "vendor", problems)
        _undone_once(ledger, portal, "deleted", "portal account", problems)
        _undone_once(ledger, entry, "removed", "supplier list entry", problems)
        if cancellation != 1:
            problems.append(f"compensated with {cancellation} cancellation emails (expected 1)")
    return problems


def _invoice_end_state(number: str, outcome: str | None, ledger: Ledger) -> list[str]:
    problems: list[str] = []
    invoices = [
        r for r in ledger.records if r["kind"] == "invoice" and r["data"].get("number") == number
    ]
    invoice = _one(invoices, "invoices", problems)
    sent = len(ledger.notifications(number, "invoice"))
    if outcome in ("paid", "void"):
        if invoice is None or invoice["status"] != outcome:
            problems.append(f"{outcome}, but billing holds it as {invoice and invoice['status']}")
        if sent != 1:
            problems.append(f"{outcome} with {sent} invoice emails (expected 1)")
    else:  # ended before it was sent: the invoice, if any, undone once, nothing mailed
        if sent:
            problems.append(f"ended {outcome} before sending, yet {sent} invoice emails went out")
        if invoice is not None:  # Stripe deletes a draft and voids a finalized invoice
            undone = ledger.actions(invoice, "deleted") + ledger.actions(invoice, "voided")
            if undone != 1:
                problems.append(f"invoice {invoice['id']} undone {undone} times (expected once)")
    return problems


def _subscription_end_state(run: RunRecord, ledger: Ledger) -> list[str]:
    """Each period billed once; each period the driver paid, paid and mailed once."""
    numbers = Counter(
        str(r["data"].get("number"))
        for r in ledger.records
        if r["kind"] == "invoice" and str(r["data"].get("number", "")).startswith(
            f"{run.business_key}-P"
        )
    )  # fmt: skip
    problems = [f"{n} invoices numbered {number}" for number, n in numbers.items() if n > 1]
    if not numbers:
        problems.append("no period was billed")
    for payment in run.payment_ids:
        problems += _invoice_end_state(payment.removesuffix("-payment"), "paid", ledger)
    return problems


def _lead_end_state(run: RunRecord, ledger: Ledger) -> list[str]:
    key = run.business_key
    problems: list[str] = []
    deal = _one(
        [r for r in ledger.records if r["kind"] == "deal" and r["data"].get("external_ref") == key],
        "deals",
        problems,
    )
    envelope = _one(ledger.of(key, "envelope"), "envelopes", problems)
    if run.outcome == "won":
        if envelope is None or envelope["status"] != "completed":
            problems.append(f"won, but its envelope is {envelope and envelope['status']}")
        if deal is None or deal["status"] != "closed_won":
            problems.append(f"won, but its deal is {deal and deal['status']}")
        if run.child_workflow_id:
            problems += _invoice_end_state(
                contract.invoice_number_of(run.child_workflow_id), "paid", ledger
            )
    elif run.outcome == "ended_by_operations":  # the review queue's compensate, after signing
        if envelope is None or envelope["status"] != "completed":
            problems.append(
                f"ended by operations, but its envelope is {envelope and envelope['status']}"
            )
        if deal is None or deal["status"] != "closed_won":
            problems.append(f"ended by operations, but its deal is {deal and deal['status']}")
    elif run.outcome == "nurtured":
        if deal is not None:
            problems.append(f"nurtured, yet deal {deal['id']} exists")
        if not ledger.notifications(key, "nurture-1"):
            problems.append("nurtured without a nurture email")
    elif envelope is not None and run.outcome != "won":
        _undone_once(ledger, envelope, "voided", "envelope", problems)
    return problems


def check_webhooks(evidence: Evidence) -> list[Violation]:
    """Each event a system delivered is in the inbox, handed over (not stuck), and its effect
    shows once in the run it was for (a payment id counts once)."""
    found: list[Violation] = []
    inbox = {(row.system, row.event_id): row for row in evidence.inbox}
    for event in evidence.webhook_events:
        if event.get("delivery_status") == "failed":  # the system gave up: never acknowledged
            found.append(
                Violation(
                    invariant=WEBHOOKS,
                    detail=f"{event['system']} {event['type']} {event['id']}: lost, the "
                    f"system gave up after {event.get('attempts')} refused deliveries",
                )
            )
        if event.get("delivery_status") != "delivered":
            continue
        row = inbox.get((event["system"], event["id"]))
        name = f"{event['system']} {event['type']} {event['id']}"
        if row is None:
            found.append(Violation(invariant=WEBHOOKS, detail=f"{name}: delivered, not in inbox"))
            continue
        if row.status == "received":
            found.append(Violation(invariant=WEBHOOKS, detail=f"{name}: stuck in the inbox"))
            continue
        if event["type"] in PAYMENT_EVENTS and row.status == "delivered":
            status = evidence.statuses.get(row.workflow_id or "")
            if status is None:
                continue
            invoice = event["data"]["object"]  # Stripe's event: the invoice, as it now stands
            payment = f"payment {invoice['id']}@{invoice['amount_paid']}:"
            times = sum(1 for step in status.get("steps_done", []) if step.startswith(payment))
            if times != 1:
                found.append(
                    Violation(
                        invariant=WEBHOOKS,
                        detail=f"{name}: payment applied {times} times to {row.workflow_id}",
                    )
                )
    for status_id, status in evidence.statuses.items():
        signed = [s for s in status.get("steps_done", []) if s.startswith("contract signed")]
        if len(signed) > 1:
            found.append(
                Violation(
                    invariant=WEBHOOKS, detail=f"{status_id}: signature applied {len(signed)} times"
                )
            )
    return found


def check_approvals(runs: Sequence[RunRecord], evidence: Evidence) -> list[Violation]:
    """Each decision the API accepted is the one the run kept; nothing decided twice."""
    found: list[Violation] = []
    for run in runs:
        status = evidence.statuses.get(run.workflow_id)
        if status is None:
            continue
        accepted: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for decision in status.get("decisions", []):
            if decision.get("accepted"):
                accepted[decision["approval_id"]].append(decision)
        for approval_id, taken in accepted.items():
            if len(taken) > 1:
                found.append(
                    Violation(
                        invariant=APPROVALS,
                        detail=f"{run.workflow_id}: {approval_id} decided {len(taken)} times",
                    )
                )
        approvals = {a["request"]["approval_id"]: a for a in status.get("approvals", [])}
        for made in run.decisions:
            kept = approvals.get(made.approval_id)
            wanted = "approved" if made.decision == "approve" else "rejected"
            if not made.accepted:
                found.append(
                    Violation(
                        invariant=APPROVALS,
                        detail=f"{run.workflow_id}: {made.approver}'s {made.decision} refused",
                    )
                )
            elif kept is None or kept["status"] != wanted or kept["decided_by"] != made.approver:
                got = kept and (kept["status"], kept["decided_by"])
                found.append(
                    Violation(
                        invariant=APPROVALS,
                        detail=f"{run.workflow_id}: {made.approver}'s accepted {made.decision} "
                        f"lost (the run holds {got})",
                    )
                )
    return found


def check_all(runs: Sequence[RunRecord], evidence: Evidence) -> list[Violation]:
    return (
        check_outcomes(runs)
        + check_one_record(evidence)
        + check_end_states(runs, evidence)
        + check_webhooks(evidence)
        + check_approvals(runs, evidence)
    )
