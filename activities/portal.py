"""Portal activities: accounts for onboarded vendors and customers; a customer's account is
suspended while their subscription is unpaid."""

from pydantic import BaseModel
from temporalio import activity

from activities.http import SystemClient, idempotency_key, path
from domain.records import (
    CompensationResult,
    CreatePortalAccountInput,
    PortalAccount,
    PortalAccountRef,
    PortalAccounts,
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

    @activity.defn(name="portal.suspend_accounts")
    async def suspend_accounts(self, inp: PortalAccountRef) -> PortalAccounts:
        """Suspend every active account carrying this reference (a subscription unpaid)."""
        return await self._move(inp, "active", "suspend")

    @activity.defn(name="portal.reactivate_accounts")
    async def reactivate_accounts(self, inp: PortalAccountRef) -> PortalAccounts:
        """Reactivate every suspended account carrying this reference (paid again)."""
        return await self._move(inp, "suspended", "reactivate")

    async def _move(self, inp: PortalAccountRef, status: str, action: str) -> PortalAccounts:
        found = await self._portal.call(
            "GET",
            "/accounts",
            _AccountList,
            params={"external_ref": inp.external_ref, "status": status},
        )
        moved = [
            await self._portal.call("POST", path("/accounts/{}/" + action, a.id), PortalAccount)
            for a in found.accounts
        ]
        return PortalAccounts(accounts=moved)
