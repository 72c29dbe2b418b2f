"""An approver's past decisions, from the workflows' own records (their `status` query), found
through visibility: every recent run that ever asked for an approval. No database involved."""

import asyncio
from datetime import datetime

from pydantic import BaseModel
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from domain.approvals import ApprovalRecord, Decision, DecisionRecord, Resolution
from domain.contract import APPROVAL_STATUS
from domain.status import WorkflowStatus
from runtime.settings import Settings
from starters.approvals import WorkflowNotFound, workflow_status
from starters.start import web_ui_url

# Runs that have (or had) an approval: pending ones, and those whose last approval closed.
ASKED_FOR_APPROVAL = (
    f'{APPROVAL_STATUS.name} IN ("pending", "approved", "rejected", "expired", "resolved")'
)
# The newest runs looked at, and how many are queried at once (each query may replay a history).
LOOKBACK = 200
CONCURRENT_QUERIES = 8


class PastDecision(BaseModel):
    workflow_id: str
    process: str
    business_key: str
    approval_id: str
    approver: str
    decision: Decision | Resolution
    comment: str
    at: datetime
    accepted: bool
    refused_because: str | None
    approval_status: str | None
    amount_cents: int | None
    currency: str | None
    counterparty: str | None
    web_ui_url: str


async def past_decisions(
    client: Client, settings: Settings, approver_id: str
) -> list[PastDecision]:
    """Every decision `approver_id` made (accepted or refused) on a recent run, newest first."""
    workflow_ids: list[str] = []
    async for execution in client.list_workflows(ASKED_FOR_APPROVAL, limit=LOOKBACK):
        if execution.id not in workflow_ids:
            workflow_ids.append(execution.id)
    gate = asyncio.Semaphore(CONCURRENT_QUERIES)

    async def status_of(workflow_id: str) -> WorkflowStatus | None:
        async with gate:
            try:
                return await workflow_status(client, workflow_id)
            except (WorkflowNotFound, WorkflowQueryFailedError, RPCError):
                return None  # gone, or no worker can answer for it right now

    statuses = await asyncio.gather(*(status_of(w) for w in workflow_ids))
    found = [
        _view(settings, client.namespace, workflow_id, status, decision)
        for workflow_id, status in zip(workflow_ids, statuses, strict=True)
        if status is not None
        for decision in status.decisions
        if decision.approver == approver_id
    ]
    return sorted(found, key=lambda d: d.at, reverse=True)


def _view(
    settings: Settings,
    namespace: str,
    workflow_id: str,
    status: WorkflowStatus,
    decision: DecisionRecord,
) -> PastDecision:
    record: ApprovalRecord | None = next(
        (a for a in status.approvals if a.request.approval_id == decision.approval_id), None
    )
    request = record.request if record else None
    return PastDecision(
        workflow_id=workflow_id,
        process=status.process,
        business_key=status.business_key,
        approval_id=decision.approval_id,
        approver=decision.approver,
        decision=decision.decision,
        comment=decision.comment,
        at=decision.at,
        accepted=decision.accepted,
        refused_because=decision.refused_because.value if decision.refused_because else None,
        approval_status=record.status.value if record else None,
        amount_cents=request.amount_cents if request else None,
        currency=request.currency if request else None,
        counterparty=request.counterparty if request else None,
        web_ui_url=web_ui_url(settings, namespace, workflow_id),
    )
