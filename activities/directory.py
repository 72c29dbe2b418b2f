"""The approver directory in Vault, read by the workflows: who holds which role is what the
directory says, never what a caller claims (through the API, the CLI or raw Temporal)."""

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.approvals import APPROVER_DIRECTORY_PATH, ApproverRef, DirectoryEntry
from domain.errors import ErrorCode
from runtime.vault import SecretStore, SecretUnavailable

DIRECTORY_TASK_QUEUE = "backoffice-directory"


class DirectoryActivities:
    def __init__(self, secrets: SecretStore) -> None:
        self._secrets = secrets

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
