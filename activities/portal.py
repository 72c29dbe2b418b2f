"""Supplier portal activities: accounts for onboarded vendors."""

from pydantic import BaseModel
from temporalio import activity

from activities.http import SystemClient, idempotency_key, path
from domain.records import (
    CompensationResult,
    CreatePortalAccountInput,
    PortalAccount,
    PortalAccountRef,
)


class _AccountList(BaseModel):
    accounts: list[PortalAccount]


class PortalActivities:
    def __init__(self, portal: SystemClient) -> None:
        self._portal = portal

    @activity.defn(name="portal.create_account")
    async def create_account(self, inp: CreatePortalAccountInput) -> PortalAccount:
        return await self._portal.call(
            "POST",
            "/accounts",
            PortalAccount,
            json=inp.model_dump(mode="json"),
            idempotency_key=idempotency_key("portal.create_account"),
        )

    @activity.defn(name="portal.delete_account")
    async def delete_account(self, inp: PortalAccountRef) -> CompensationResult:
        """Compensation: delete every active account carrying this reference."""
        found = await self._portal.call(
            "GET", "/accounts", _AccountList, params={"external_ref": inp.external_ref}
        )
        deleted = []
        for account in found.accounts:
            if account.status == "active":
                await self._portal.call("DELETE", path("/accounts/{}", account.id), PortalAccount)
                deleted.append(account.id)
        if not deleted:
            return CompensationResult(undone=False, description="no portal account to delete")
        return CompensationResult(
            undone=True, description=f"deleted portal account {', '.join(deleted)}"
        )
