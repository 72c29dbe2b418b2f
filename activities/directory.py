"""The approver directory in Vault, read by the workflows: who holds which role is what the
directory says, never what a caller claims (through the API, the CLI or raw Temporal). And the
audit row of each review-queue decision (`backoffice audit <workflow-id>` lists it)."""

import time
from dataclasses import replace

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.audit import AuditLog, attempt
from domain.approvals import APPROVER_DIRECTORY_PATH, ApproverRef, DecisionRecord, DirectoryEntry
from domain.errors import ErrorCode
from runtime.redaction import redact_text
from runtime.vault import SecretStore, SecretUnavailable

# The audit rows of decisions: their "system" and "method" columns.
DECISIONS = "review-queue"

DIRECTORY_TASK_QUEUE = "backoffice-directory"


class DirectoryActivities:
    def __init__(self, secrets: SecretStore, audit: AuditLog | None = None) -> None:
        self._secrets = secrets
        self._audit = audit

    @activity.defn(name="directory.record_decision")
    async def record_decision(self, decision: DecisionRecord) -> None:
        """One audit row per review-queue decision: the item and the decision in the path,
        who decided and who sent it in the summary (ids from the directory, never personal
        data), the comment's presence only (it may name people)."""
        if self._audit is None:
            return
        sent_by = f", sent by {decision.operator}" if decision.operator else ""
        entry = attempt(
            DECISIONS,
            "DECIDE",
            f"/{decision.approval_id}/{decision.decision}",
            200,
            time.perf_counter(),
            None,
            None,
            b"",
        )
        summary = f"by {decision.approver}{sent_by}"
        summary += ", with a comment" if decision.comment else ""
        await self._audit.record(replace(entry, request_summary=redact_text(summary)))

    @activity.defn(name="directory.approver")
    async def approver(self, inp: ApproverRef) -> DirectoryEntry:
        try:
            directory = await self._secrets.read(APPROVER_DIRECTORY_PATH)
        except SecretUnavailable as exc:  # retried: Vault may be sealed or restarting
            raise ApplicationError(str(exc), type=ErrorCode.SECRET_UNAVAILABLE) from None
        entry = directory.get("approvers", {}).get(inp.approver_id)
        if not isinstance(entry, dict):
            return DirectoryEntry(approver_id=inp.approver_id, known=False)
        return DirectoryEntry(
            approver_id=inp.approver_id,
            known=True,
            email=entry.get("email"),
            roles=[str(r) for r in entry.get("roles", [])],
        )
