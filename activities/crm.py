"""CRM activities: accounts and deals (OAuth2 client credentials, see `activities.auth`)."""

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.http import SystemClient, idempotency_key, path
from domain.lead import owner_for
from domain.records import (
    AssignOwnerInput,
    CaptureLeadInput,
    CompensationResult,
    CreateAccountInput,
    CreateDealInput,
    CrmAccount,
    CrmAccountRef,
    CrmDeal,
    CrmDealRef,
    CrmLead,
    DealOwner,
    RestoreDealStageInput,
    UpdateDealInput,
)


class CrmActivities:
    def __init__(self, crm: SystemClient) -> None:
        self._crm = crm

    @activity.defn(name="crm.get_account")
    async def get_account(self, inp: CrmAccountRef) -> CrmAccount:
        return await self._crm.call("GET", path("/accounts/{}", inp.account_id), CrmAccount)

    @activity.defn(name="crm.get_deal")
    async def get_deal(self, inp: CrmDealRef) -> CrmDeal | None:
        """The deal, or None when the CRM has no deal with that id."""
        try:
            return await self._crm.call("GET", path("/deals/{}", inp.deal_id), CrmDeal)
        except ApplicationError as exc:
            if exc.type == "NOT_FOUND":
                return None
            raise

    @activity.defn(name="crm.update_deal")
    async def update_deal(self, inp: UpdateDealInput) -> CrmDeal:
        """Set fields on a deal; a PATCH with the same values is harmless to repeat."""
        changes = inp.model_dump(exclude={"deal_id"}, exclude_none=True)
        return await self._crm.call("PATCH", path("/deals/{}", inp.deal_id), CrmDeal, json=changes)

    @activity.defn(name="crm.capture_lead")
    async def capture_lead(self, inp: CaptureLeadInput) -> CrmLead:
        """A new lead, or the one the CRM already has for that email."""
        return await self._crm.call(
            "POST",
            "/leads",
            CrmLead,
            json=inp.model_dump(mode="json"),
            idempotency_key=idempotency_key("crm.capture_lead"),
        )

    @activity.defn(name="crm.assign_owner")
    async def assign_owner(self, inp: AssignOwnerInput) -> DealOwner:
        """The owner for runs started before owners came from the lead (their workflow asks this
        activity): spread over the reps by the run's id, the same on every retry. It reads
        nothing from the CRM (it used to count every deal there)."""
        return DealOwner(email=owner_for(activity.info().workflow_id or "", inp.reps))

    @activity.defn(name="crm.create_deal")
    async def create_deal(self, inp: CreateDealInput) -> CrmDeal:
        return await self._crm.call(
            "POST",
            "/deals",
            CrmDeal,
            json=inp.model_dump(mode="json") | {"stage": "qualification"},
            idempotency_key=idempotency_key("crm.create_deal"),
        )

    @activity.defn(name="crm.restore_deal_stage")
    async def restore_deal_stage(self, inp: RestoreDealStageInput) -> CompensationResult:
        deal = await self._crm.call("GET", path("/deals/{}", inp.deal_id), CrmDeal)
        if deal.stage == inp.stage:
            return CompensationResult(undone=False, description="deal already at its stage")
        await self._crm.call(
            "PATCH",
            path("/deals/{}", inp.deal_id),
            CrmDeal,
            json={"stage": inp.stage, "note": inp.note},
            idempotency_key=idempotency_key(f"crm.restore_deal_stage/{inp.stage}"),
        )
        return CompensationResult(
            undone=True, description=f"deal {inp.deal_id} back to {inp.stage}"
        )

    @activity.defn(name="crm.create_account")
    async def create_account(self, inp: CreateAccountInput) -> CrmAccount:
        return await self._crm.call(
            "POST",
            "/accounts",
            CrmAccount,
            json=inp.model_dump(mode="json"),
            idempotency_key=idempotency_key("crm.create_account"),
        )

    @activity.defn(name="crm.mark_customer")
    async def mark_customer(self, inp: CrmAccountRef) -> CrmAccount:
        return await self._crm.call(
            "PATCH", path("/accounts/{}", inp.account_id), CrmAccount, json={"type": "customer"}
        )
