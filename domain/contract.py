"""The Temporal contract (DESIGN.md): the names operators, scripts and other services use to
reach a run: workflow types, workflow ids, queries, updates, signals and search attributes.

Each is defined here once and imported everywhere else (tests/test_contract.py fails on a copy
spelled out elsewhere). Never change a value: runs in flight, saved queries and the recorded
histories in tests/histories use them.
"""

from datetime import date
from typing import Any

from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey

# Workflow types.
VENDOR_ONBOARDING = "VendorOnboarding"
INVOICE_GENERATION = "InvoiceGeneration"
LEAD_TO_CASH = "LeadToCash"
RECONCILIATION = "Reconciliation"
SUBSCRIPTION = "Subscription"
WORKFLOW_TYPES = (VENDOR_ONBOARDING, INVOICE_GENERATION, LEAD_TO_CASH, RECONCILIATION, SUBSCRIPTION)

# Workflow ids: `<prefix><business key>` (business keys only, never personal data).
VENDOR_ONBOARDING_ID_PREFIX = "vendor-onboarding-"
INVOICE_ID_PREFIX = "invoice-"
LEAD_TO_CASH_ID_PREFIX = "lead-to-cash-"
RECONCILIATION_ID_PREFIX = "reconciliation-"
SUBSCRIPTION_ID_PREFIX = "subscription-"
# The schedule of the daily reconciliation; its runs' ids are `<schedule id>-<scheduled time>`.
RECONCILIATION_SCHEDULE_ID = "reconciliation-daily"
SCHEDULED_RECONCILIATION_ID_PREFIX = f"{RECONCILIATION_SCHEDULE_ID}-"
# Longest first: a scheduled reconciliation's id also starts with the manual runs' prefix.
WORKFLOW_ID_PREFIXES = (
    VENDOR_ONBOARDING_ID_PREFIX,
    INVOICE_ID_PREFIX,
    LEAD_TO_CASH_ID_PREFIX,
    SCHEDULED_RECONCILIATION_ID_PREFIX,
    RECONCILIATION_ID_PREFIX,
    SUBSCRIPTION_ID_PREFIX,
)


def vendor_onboarding_id(application_id: str) -> str:
    return f"{VENDOR_ONBOARDING_ID_PREFIX}{application_id}"


def invoice_workflow_id(invoice_number: str) -> str:
    return f"{INVOICE_ID_PREFIX}{invoice_number}"


def lead_to_cash_id(lead_id: str) -> str:
    return f"{LEAD_TO_CASH_ID_PREFIX}{lead_id}"


def subscription_workflow_id(subscription_id: str) -> str:
    return f"{SUBSCRIPTION_ID_PREFIX}{subscription_id}"


def reconciliation_id(day: date) -> str:
    """A manual reconciliation of `day` (`backoffice reconcile`)."""
    return f"{RECONCILIATION_ID_PREFIX}{day.isoformat()}"


def invoice_number_of(workflow_id: str) -> str:
    """The invoice number an invoice run's id carries."""
    return workflow_id.removeprefix(INVOICE_ID_PREFIX)


# Queries, updates and signals.
STATUS_QUERY = "status"  # every workflow: where the run stands (domain.status.WorkflowStatus)
DECIDE_UPDATE = "decide"  # a decision, answered at once (every workflow that waits for people)
APPROVE_SIGNAL = "approve"  # the same rules as `decide`, for `temporal workflow signal`
REJECT_SIGNAL = "reject"
VOID_UPDATE = "void"  # InvoiceGeneration: void the unpaid invoice
PAYMENT_RECEIVED_SIGNAL = "payment_received"  # InvoiceGeneration, from billing's webhooks
DEAL_STAGE_CHANGED_SIGNAL = "deal_stage_changed"  # LeadToCash, from the CRM's webhooks
CONTRACT_SIGNED_SIGNAL = "contract_signed"  # LeadToCash, from e-signature's webhooks
INVOICE_SETTLED_SIGNAL = "invoice_settled"  # LeadToCash and Subscription, from invoice runs
INVOICE_OVERDUE_SIGNAL = "invoice_overdue"  # Subscription, from its period's invoice run
STEP_RETRYING_SIGNAL = "step_retrying"  # every workflow, from an activity that keeps failing
# Subscription: changes people make (a validator refuses at once what the rules do not allow).
CHANGE_PLAN_UPDATE = "change_plan"  # seats and price, from the next period (sales)
PAUSE_UPDATE = "pause"  # no period is billed until resumed (finance)
RESUME_UPDATE = "resume"  # (finance)
CANCEL_UPDATE = "cancel"  # now, or at the current period's end (finance)

# Search attributes (plain text in Temporal: no names, emails, tax ids or bank data).
BUSINESS_KEY = SearchAttributeKey.for_keyword("BusinessKey")
STAGE = SearchAttributeKey.for_keyword("Stage")
APPROVAL_STATUS = SearchAttributeKey.for_keyword("ApprovalStatus")
APPROVER_ROLE = SearchAttributeKey.for_keyword("ApproverRole")
AMOUNT_CENTS = SearchAttributeKey.for_int("AmountCents")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
APPROVAL_PENDING_SINCE = SearchAttributeKey.for_datetime("ApprovalPendingSince")
SUBSCRIPTION_STATUS = SearchAttributeKey.for_keyword("SubscriptionStatus")  # active, past_due...
SEARCH_ATTRIBUTE_KEYS: tuple[SearchAttributeKey[Any], ...] = (
    BUSINESS_KEY,
    STAGE,
    APPROVAL_STATUS,
    APPROVER_ROLE,
    AMOUNT_CENTS,
    CUSTOMER_ID,
    APPROVAL_PENDING_SINCE,
    SUBSCRIPTION_STATUS,
)
_KIND = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
}
# Name -> type, as `temporal operator search-attribute create` and the dev server take them.
SEARCH_ATTRIBUTES: dict[str, str] = {
    key.name: _KIND[key.indexed_value_type] for key in SEARCH_ATTRIBUTE_KEYS
}
