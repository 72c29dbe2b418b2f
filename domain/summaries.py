"""What each run is, in the words an operator reads in the Temporal Web UI: a one-line summary
and a few lines of details fixed at start. They travel encrypted like every payload; still, only
business keys, amounts and terms go in, never names, emails, tax ids or bank data."""

from datetime import date

from domain.invoice import InvoiceGenerationInput
from domain.lead import LeadToCashInput
from domain.money import format_amount
from domain.reconciliation import ReconciliationInput
from domain.subscription import SubscriptionInput
from domain.vendor import VendorOnboardingInput


class RunDescription:
    """The static summary (one line) and details (markdown) of one run."""

    def __init__(self, summary: str, details: list[str]) -> None:
        self.summary = summary
        self.details = "\n".join(f"- {line}" for line in details)


def vendor_onboarding(inp: VendorOnboardingInput) -> RunDescription:
    app = inp.application
    return RunDescription(
        f"Vendor onboarding {app.application_id} · {app.vendor_type} · {app.country}",
        [
            f"Application: `{app.application_id}`, requested by `{app.requested_by}`",
            f"Vendor type: {app.vendor_type}; country: {app.country}",
            f"Payment terms: {app.payment_terms}",
            f"Approval by: {inp.policy.approver_role} (escalates to {inp.policy.escalation_role})",
        ],
    )


def invoice(inp: InvoiceGenerationInput) -> RunDescription:
    request = inp.request
    total = format_amount(request.totals().total_cents, request.currency)
    approval = (
        f"{inp.policy.approver_role} approval at or above "
        f"{format_amount(inp.policy.approval_threshold_cents, request.currency)}"
    )
    return RunDescription(
        f"Invoice {request.invoice_number} · {total} · {request.payment_terms}",
        [
            f"Invoice number: `{request.invoice_number}`, requested by `{request.requested_by}`",
            f"Total: {total} over {len(request.lines)} line(s)",
            f"Issued {request.issue_date.isoformat()}, due {request.due_date.isoformat()}",
            f"CRM account `{request.crm_account_id}`, deal `{request.crm_deal_id}`",
            f"Approval: {approval}",
        ],
    )


def lead_to_cash(inp: LeadToCashInput) -> RunDescription:
    form = inp.form
    budget = format_amount(form.budget_cents, form.currency)
    return RunDescription(
        f"Lead to cash {form.lead_id} · {form.seats} seats · budget {budget}",
        [
            f"Lead: `{form.lead_id}` from {form.source}",
            f"Seats: {form.seats}; budget: {budget}; timeline: {form.timeline}",
            f"Requested discount: {form.requested_discount_bp / 100:g}%",
        ],
    )


def reconciliation(inp: ReconciliationInput, day: date | None = None) -> RunDescription:
    covered = day or inp.day
    what = f"of {covered.isoformat()}" if covered else "of the day before the scheduled time"
    return RunDescription(
        f"Reconciliation {what}",
        [
            f"Billing invoices {what} ({inp.policy.time_zone}) against CRM deals",
            "Lagging deals are fixed; the rest are reported for operators",
        ],
    )


def subscription(inp: SubscriptionInput) -> RunDescription:
    req, plan = inp.request, inp.request.plan
    total = format_amount(plan.period_total_cents(), plan.currency)
    return RunDescription(
        f"Subscription {req.subscription_id} · {plan.seats} seats · {total} {plan.interval}",
        [
            f"Subscription: `{req.subscription_id}`, requested by `{req.requested_by}`",
            f"Each period: {plan.arithmetic()}",
            f"Periods from {req.anchor.isoformat()}, {plan.interval}; terms {req.payment_terms}",
            f"CRM account `{req.crm_account_id}`, deal `{req.crm_deal_id}`",
            "Changes: seats and price by sales, from the next period; pause, resume and "
            "cancel by finance",
        ],
    )
