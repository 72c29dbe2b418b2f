"""Manual reconciliation runs: `reconciliation-<day>`, and the policy every run gets from the
settings (the schedule's runs included)."""

import os
from datetime import date, datetime

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from domain import summaries
from domain.contract import RECONCILIATION, reconciliation_id
from domain.reconciliation import ReconciliationInput, ReconciliationPolicy, time_zone
from domain.systems import WORKFLOW_TASK_QUEUE
from runtime.settings import Settings
from starters.start import StartOutcome, web_ui_url


class BadInput(ValueError):
    """Bad input (a day, a date range); nothing was started, created or changed."""


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise BadInput(f"--day {text!r} is not a date (YYYY-MM-DD): {exc}") from None


def reconciliation_policy(settings: Settings) -> ReconciliationPolicy:
    return ReconciliationPolicy(
        time_zone=settings.reconciliation_time_zone,
        give_up_after=settings.reconciliation_give_up_after,
        page_size=settings.reconciliation_page_size,
        pages_per_run=settings.reconciliation_pages_per_run,
        crm_in_flight=settings.reconciliation_crm_in_flight,
        crm_outage_hold=settings.reconciliation_crm_outage_hold,
    )


def refuse_bad_days(settings: Settings, first: date, last: date, option: str = "--day") -> None:
    """Days that cannot be reconciled: after today (in the reconciliation's time zone) or before
    billing went live (BACKOFFICE_BILLING_SINCE)."""
    today = datetime.now(time_zone(settings.reconciliation_time_zone)).date()
    if last > today:
        raise BadInput(
            f"{option} {last} is in the future (today is {today} in "
            f"{settings.reconciliation_time_zone}): nothing to reconcile yet"
        )
    if first < settings.billing_since:
        raise BadInput(
            f"{option} {first} is before billing went live ({settings.billing_since}, "
            "BACKOFFICE_BILLING_SINCE): billing has no invoices that day"
        )


def refuse_unwritable_export_dir(settings: Settings) -> None:
    """The export dir (or the nearest folder above it that exists, where it will be made) must be
    a folder this process may write into."""
    folder = settings.resolved_export_dir
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise BadInput(
            f"the export dir {folder} cannot be made: {existing} is not a folder "
            "(check BACKOFFICE_EXPORT_DIR)"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BadInput(
            f"the export dir {folder} is not writable ({existing}): check BACKOFFICE_EXPORT_DIR"
        )


async def start_reconciliation(client: Client, settings: Settings, day: date) -> StartOutcome:
    """A manual run of one day. While a run of that day goes on, it is handed back; once it
    has finished, the day can be run again (the run is idempotent)."""
    refuse_bad_days(settings, day, day)
    refuse_unwritable_export_dir(settings)
    workflow_id = reconciliation_id(day)
    run_id = await _running_run(client, workflow_id)
    already_running = run_id is not None
    if run_id is None:
        inp = ReconciliationInput(day=day, policy=reconciliation_policy(settings))
        description = summaries.reconciliation(inp)
        handle = await client.start_workflow(
            RECONCILIATION,
            inp,
            id=workflow_id,
            task_queue=WORKFLOW_TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=description.summary,
            static_details=description.details,
        )
        run_id = handle.result_run_id or ""
    return StartOutcome(
        workflow_id=workflow_id,
        run_id=run_id,
        web_ui_url=web_ui_url(settings, client.namespace, workflow_id),
        already_existed=already_running,
    )


async def _running_run(client: Client, workflow_id: str) -> str | None:
    """The run id of the workflow with this id, if it is still running."""
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return description.run_id if description.status == WorkflowExecutionStatus.RUNNING else None
