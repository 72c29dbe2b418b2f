"""Where a run stands: stage, steps done, compensations. Kept current in the search attributes
(for lists and saved queries) and in the run's current details (what the Web UI shows)."""

import asyncio
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

from domain.approvals import ApprovalStatus
from domain.contract import (
    AMOUNT_CENTS,
    APPROVAL_PENDING_SINCE,
    APPROVAL_STATUS,
    APPROVER_ROLE,
    BUSINESS_KEY,
    CUSTOMER_ID,
    STAGE,
)
from domain.status import StepRetrying

ATTENTION = "attention_needed"
RETRYING = "retrying"


class Progress:
    def __init__(self, process: str, business_key: str) -> None:
        self.process = process
        self.business_key = business_key
        self.stage = "started"
        self.steps_done: list[str] = []
        self._compensations: list[str] = []
        self._outcome: str | None = None
        self._problem: str | None = None
        self.attention: str | None = None
        self.review: str | None = None  # waiting in the review queue: why, and for whom
        self.retrying: str | None = None
        self._approval: tuple[ApprovalStatus, str | None] = (ApprovalStatus.NONE, None)
        self._pending_since: datetime | None = None
        self._more: list[str] = []  # what a process adds to its current details

    @property
    def outcome(self) -> str | None:
        return self._outcome

    @outcome.setter
    def outcome(self, value: str | None) -> None:
        self._outcome = value
        self._describe()

    @property
    def problem(self) -> str | None:
        return self._problem

    @problem.setter
    def problem(self, value: str | None) -> None:
        self._problem = value
        self._describe()

    @property
    def compensations(self) -> list[str]:
        return list(self._compensations)

    @compensations.setter
    def compensations(self, value: list[str]) -> None:
        self._compensations = list(value)
        self._describe()

    def compensated(self, description: str) -> None:
        self.compensations = [*self._compensations, description]

    def begin(self) -> None:
        self._upsert(
            BUSINESS_KEY.value_set(self.business_key),
            STAGE.value_set(self.stage),
            APPROVAL_STATUS.value_set(ApprovalStatus.NONE.value),
        )
        self._describe()

    def enter(self, stage: str) -> None:
        self.stage = stage
        self.retrying = None
        self._upsert(STAGE.value_set(self._shown_stage()))
        self._describe()

    def step_retrying(self, notice: str | None) -> None:
        """A step keeps failing and is being retried (None: it ended). While it lasts,
        `Stage` says `retrying` (unless something needs attention)."""
        if notice == self.retrying:
            return
        self.retrying = notice
        self._upsert(STAGE.value_set(self._shown_stage()))
        self._describe()

    def reviewing(self, problem: str | None) -> None:
        """The run waits in the review queue (None: it was decided). While it lasts, `Stage`
        says `attention_needed`; `status` keeps the real stage, the step and the problem."""
        self.review = problem
        self._upsert(STAGE.value_set(self._shown_stage()))
        self._describe()

    def _shown_stage(self) -> str:
        if self.attention or self.review:
            return ATTENTION
        return RETRYING if self.retrying else self.stage

    def needs_attention(self, problem: str | None) -> None:
        """Something after the point of no return failed for good: operators must look.

        While it lasts, the `Stage` search attribute says `attention_needed`; `status` keeps
        the real stage and the problem."""
        self.attention = problem
        self._upsert(STAGE.value_set(self._shown_stage()))
        self._describe()

    def amount(self, cents: int) -> None:
        self._upsert(AMOUNT_CENTS.value_set(cents))

    def customer(self, customer_id: str) -> None:
        self._upsert(CUSTOMER_ID.value_set(customer_id))

    def done(self, step: str) -> None:
        """A step boundary. Calls wait for their outcome when the run is cancelled (see
        `options.on`), so a cancel request that arrived meanwhile takes effect here."""
        self.steps_done.append(step)
        if self.retrying:
            self.step_retrying(None)
        self._describe()
        if workflow.cancellation_reason() is not None:
            raise asyncio.CancelledError(f"cancel requested during: {step}")

    def approval(self, status: ApprovalStatus, role: str | None) -> None:
        """The approval a run waits for: status, the role that may decide it, and since when it
        is pending (escalation keeps that moment; a decision clears it)."""
        updates: list[SearchAttributeUpdate[Any]] = [APPROVAL_STATUS.value_set(status.value)]
        updates.append(APPROVER_ROLE.value_set(role) if role else APPROVER_ROLE.value_unset())
        if status == ApprovalStatus.PENDING and self._pending_since is None:
            self._pending_since = workflow.now()
            updates.append(APPROVAL_PENDING_SINCE.value_set(self._pending_since))
        elif status != ApprovalStatus.PENDING and self._pending_since is not None:
            self._pending_since = None
            updates.append(APPROVAL_PENDING_SINCE.value_unset())
        self._approval = (status, role)
        self._upsert(*updates)
        self._describe()

    def more(self, lines: list[str]) -> None:
        """Lines of the process's own for the run's current details (the Web UI)."""
        if lines != self._more:
            self._more = list(lines)
            self._describe()

    def _describe(self) -> None:
        """The current details of the run, in the Web UI's markdown."""
        lines = [f"**Stage:** {self.stage}", *self._more]
        if self.review:
            lines.append(f"**Needs attention (review queue):** {self.review}")
        if self.attention:
            lines.append(f"**Needs attention:** {self.attention}")
        if self.retrying:
            lines.append(f"**Retrying:** {self.retrying}")
        status, role = self._approval
        if status == ApprovalStatus.PENDING and self._pending_since is not None:
            since = self._pending_since.strftime("%Y-%m-%d %H:%M UTC")
            lines.append(f"**Approval:** pending with {role} since {since}")
        elif status != ApprovalStatus.NONE:
            lines.append(f"**Approval:** {status.value}")
        if self.steps_done:
            lines.append(f"**Steps done ({len(self.steps_done)}):** {self.steps_done[-1]} (last)")
        if self._compensations:
            lines.append(f"**Compensations:** {'; '.join(self._compensations)}")
        if self._problem:
            lines.append(f"**Problem:** {self._problem}")
        if self._outcome:
            lines.append(f"**Outcome:** {self._outcome}")
        workflow.set_current_details("\n\n".join(lines))

    def _upsert(self, *updates: SearchAttributeUpdate[Any]) -> None:
        workflow.upsert_search_attributes(list(updates))


def describe_retrying(notice: StepRetrying) -> str:
    return f"{notice.activity} failing ({notice.error}), attempt {notice.attempt} and retrying"
