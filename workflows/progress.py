"""Where a run stands: stage, steps done, compensations; kept in the search attributes too."""

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

from domain.approvals import ApprovalStatus

BUSINESS_KEY = SearchAttributeKey.for_keyword("BusinessKey")
STAGE = SearchAttributeKey.for_keyword("Stage")
APPROVAL_STATUS = SearchAttributeKey.for_keyword("ApprovalStatus")
APPROVER_ROLE = SearchAttributeKey.for_keyword("ApproverRole")
AMOUNT_CENTS = SearchAttributeKey.for_int("AmountCents")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
ATTENTION = "attention_needed"


class Progress:
    def __init__(self, process: str, business_key: str) -> None:
        self.process = process
        self.business_key = business_key
        self.stage = "started"
        self.steps_done: list[str] = []
        self.compensations: list[str] = []
        self.outcome: str | None = None
        self.problem: str | None = None
        self.attention: str | None = None

    def begin(self) -> None:
        self._upsert(
            BUSINESS_KEY.value_set(self.business_key),
            STAGE.value_set(self.stage),
            APPROVAL_STATUS.value_set(ApprovalStatus.NONE.value),
        )

    def enter(self, stage: str) -> None:
        self.stage = stage
        self._upsert(STAGE.value_set(ATTENTION if self.attention else stage))

    def needs_attention(self, problem: str | None) -> None:
        """Something after the point of no return failed for good: operators must look.

        While it lasts, the `Stage` search attribute says `attention_needed`; `status` keeps
        the real stage and the problem."""
        self.attention = problem
        self._upsert(STAGE.value_set(ATTENTION if problem else self.stage))

    def amount(self, cents: int) -> None:
        self._upsert(AMOUNT_CENTS.value_set(cents))

    def customer(self, customer_id: str) -> None:
        self._upsert(CUSTOMER_ID.value_set(customer_id))

    def done(self, step: str) -> None:
        """A step boundary. Calls wait for their outcome when the run is cancelled (see
        `options.on`), so a cancel request that arrived meanwhile takes effect here."""
        self.steps_done.append(step)
        if workflow.cancellation_reason() is not None:
            raise asyncio.CancelledError(f"cancel requested during: {step}")

    def approval(self, status: ApprovalStatus, role: str | None) -> None:
        updates = [APPROVAL_STATUS.value_set(status.value)]
        updates.append(APPROVER_ROLE.value_set(role) if role else APPROVER_ROLE.value_unset())
        self._upsert(*updates)

    def _upsert(self, *updates: SearchAttributeUpdate[Any]) -> None:
        workflow.upsert_search_attributes(list(updates))
