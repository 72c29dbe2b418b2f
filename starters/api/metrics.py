"""The API's business metrics, served on its Prometheus endpoint beside the SDK's own: webhook
outcomes; approvals pending by role, those of them past their due time, and the runs that need
attention (counted in Temporal visibility every few seconds); each system's circuit breaker
(read from the app database)."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.common import MetricMeter

from domain.approvals import ApprovalStatus
from domain.contract import APPROVAL_PENDING_SINCE, APPROVAL_STATUS, APPROVER_ROLE, STAGE
from domain.metrics import (
    APPROVALS_OVERDUE,
    APPROVALS_PENDING,
    CIRCUIT_STATE,
    RUNS_NEEDING_ATTENTION,
    WEBHOOK_EVENTS,
    WebhookOutcome,
)
from runtime.circuit import STATE_VALUE
from runtime.settings import Settings
from starters.systems import system_states

log = logging.getLogger(__name__)


def approver_roles(settings: Settings) -> list[str]:
    """Every role an approval can wait for: the approver and escalation role of each process,
    and the review queue's."""
    return sorted(
        {
            settings.procurement_role,
            settings.procurement_escalation_role,
            settings.finance_role,
            settings.finance_escalation_role,
            settings.sales_approver_role,
            settings.sales_escalation_role,
            settings.operations_role,
            settings.operations_escalation_role,
        }
    )


def pending_query(role: str) -> str:
    """The visibility query of running workflows whose approval waits for `role`."""
    quoted = role.replace("\\", "\\\\").replace('"', '\\"')
    return (
        f'ExecutionStatus = "Running" AND {APPROVAL_STATUS.name} = '
        f'"{ApprovalStatus.PENDING.value}" AND {APPROVER_ROLE.name} = "{quoted}"'
    )


class ApiMetrics:
    def __init__(self, meter: MetricMeter) -> None:
        self._webhooks = meter.create_counter(
            WEBHOOK_EVENTS, "Webhook deliveries received, by system and outcome"
        )
        self._pending = meter.create_gauge(
            APPROVALS_PENDING, "Running workflows whose approval waits for the role"
        )
        self._overdue = meter.create_gauge(
            APPROVALS_OVERDUE, "Approvals waiting for the role longer than their due time"
        )
        self._attention = meter.create_gauge(
            RUNS_NEEDING_ATTENTION, "Running workflows whose Stage is attention_needed"
        )
        self._circuits = meter.create_gauge(
            CIRCUIT_STATE, "Circuit breaker of each external system: 0 closed, 1 half-open, 2 open"
        )

    def webhook(self, system: str, outcome: WebhookOutcome | str) -> None:
        self._webhooks.add(1, {"system": system, "outcome": str(outcome)})

    async def count_pending(self, client: Client, roles: list[str], due_after: timedelta) -> None:
        """Pending approvals per role, and how many of them are past due (pending longer than
        the reminder time, the due time the inbox shows)."""
        due = (datetime.now(UTC) - due_after).isoformat()
        for role in roles:
            counted = await client.count_workflows(pending_query(role))
            self._pending.set(counted.count, {"role": role})
            overdue = f'{pending_query(role)} AND {APPROVAL_PENDING_SINCE.name} < "{due}"'
            self._overdue.set((await client.count_workflows(overdue)).count, {"role": role})
        attention = f'ExecutionStatus = "Running" AND {STAGE.name} = "attention_needed"'
        self._attention.set((await client.count_workflows(attention)).count)

    async def read_circuits(self, engine: Engine) -> None:
        for state in await asyncio.to_thread(system_states, engine):
            self._circuits.set(STATE_VALUE[state.state], {"system": state.system})

    async def keep_counting(self, client: Client, engine: Engine, settings: Settings) -> None:
        """Refresh the gauges until cancelled; a failed count keeps the last values."""
        roles = approver_roles(settings)
        while True:
            try:
                await self.count_pending(client, roles, settings.approval_remind_after)
            except Exception as exc:  # Temporal unreachable for a while: try again next time
                log.warning("counting pending approvals failed: %s", type(exc).__name__)
            try:
                await self.read_circuits(engine)
            except Exception as exc:  # the database unreachable for a while: likewise
                log.warning("reading the circuit breakers failed: %s", type(exc).__name__)
            await asyncio.sleep(settings.approvals_gauge_refresh_seconds)
