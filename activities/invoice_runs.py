"""Temporal itself as a system a workflow asks: how an invoice run ended. A subscription that a
reset sends back before a period's invoice run started finds the run there already; if that run
has ended, its settlement went to a run the reset replaced, so the subscription asks here."""

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from domain.invoice import InvoiceResult, InvoiceSettled

INVOICE_RUNS_TASK_QUEUE = "backoffice-temporal"


class InvoiceRunRef(BaseModel):
    workflow_id: str


class InvoiceRunOutcome(BaseModel):
    settled: InvoiceSettled | None = None  # None: the run has not ended


OUTCOME_ACTIVITY = "invoice_runs.outcome"


class InvoiceRunActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name=OUTCOME_ACTIVITY)
    async def outcome(self, ref: InvoiceRunRef) -> InvoiceRunOutcome:
        handle = self._client.get_workflow_handle(ref.workflow_id, result_type=InvoiceResult)
        described = await handle.describe()
        if described.status in (None, WorkflowExecutionStatus.RUNNING):
            return InvoiceRunOutcome()
        try:
            result = await handle.result()
        except WorkflowFailureError as exc:
            cause = exc.cause
            code = cause.type if isinstance(cause, ApplicationError) and cause.type else None
            status = described.status.name if described.status else "ENDED"
            return InvoiceRunOutcome(
                settled=InvoiceSettled(
                    invoice_workflow_id=ref.workflow_id, failure_code=code or status
                )
            )
        return InvoiceRunOutcome(
            settled=InvoiceSettled(invoice_workflow_id=ref.workflow_id, result=result)
        )
