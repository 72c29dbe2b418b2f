"""CRM activities: accounts and deals (OAuth2 client credentials, see `activities.auth`)."""

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.http import SystemClient
from domain.records import CrmAccount, CrmAccountRef, CrmDeal, CrmDealRef, UpdateDealInput


class CrmActivities:
    def __init__(self, crm: SystemClient) -> None:
        self._crm = crm

    @activity.defn(name="crm.get_account")
    async def get_account(self, inp: CrmAccountRef) -> CrmAccount:
        return await self._crm.call("GET", f"/accounts/{inp.account_id}", CrmAccount)

    @activity.defn(name="crm.get_deal")
    async def get_deal(self, inp: CrmDealRef) -> CrmDeal | None:
        """The deal, or None when the CRM has no deal with that id."""
        try:
            return await self._crm.call("GET", f"/deals/{inp.deal_id}", CrmDeal)
        except ApplicationError as exc:
            if exc.type == "NOT_FOUND":
                return None
            raise

    @activity.defn(name="crm.update_deal")
    async def update_deal(self, inp: UpdateDealInput) -> CrmDeal:
        """Set fields on a deal; a PATCH with the same values is harmless to repeat."""
        changes = inp.model_dump(exclude={"deal_id"}, exclude_none=True)
        return await self._crm.call("PATCH", f"/deals/{inp.deal_id}", CrmDeal, json=changes)
