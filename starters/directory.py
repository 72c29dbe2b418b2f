"""The approver directory (in Vault): who an approver is and which roles they hold."""

from pydantic import BaseModel

from domain.approvals import APPROVER_DIRECTORY_PATH
from runtime.vault import SecretStore


class Approver(BaseModel):
    id: str
    name: str
    email: str
    roles: list[str]
    slack_user_id: str | None = None


class UnknownApprover(Exception):
    """No approver with that id in the directory."""


class Directory:
    def __init__(self, secrets: SecretStore) -> None:
        self._secrets = secrets

    async def get(self, approver_id: str) -> Approver:
        entries = (await self._secrets.read(APPROVER_DIRECTORY_PATH)).get("approvers", {})
        entry = entries.get(approver_id)
        if entry is None:
            raise UnknownApprover(f"no approver '{approver_id}' in the directory")
        return Approver(id=approver_id, **entry)

    async def by_slack_user(self, slack_user_id: str) -> Approver | None:
        """The approver whose Slack user id this is (None: nobody in the directory)."""
        entries = (await self._secrets.read(APPROVER_DIRECTORY_PATH)).get("approvers", {})
        for approver_id, entry in sorted(entries.items()):
            if isinstance(entry, dict) and entry.get("slack_user_id") == slack_user_id:
                return Approver(id=approver_id, **entry)
        return None
