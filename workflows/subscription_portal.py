"""A subscription's hold on the customer's portal accounts: suspended while a period stays
unpaid past the grace, reactivated once every open invoice is paid."""

from temporalio import workflow

from domain.records import PortalAccountRef
from domain.subscription import SubscriptionPolicy, SubscriptionRequest
from domain.systems import System
from workflows import options

with workflow.unsafe.imports_passed_through():
    from activities.portal import PortalActivities


class PortalAccess:
    def __init__(self, req: SubscriptionRequest, policy: SubscriptionPolicy) -> None:
        self._ref = req.portal_account_ref
        self._policy = policy

    async def suspend(self) -> None:
        await self._move(PortalActivities.suspend_accounts)

    async def reactivate(self) -> None:
        await self._move(PortalActivities.reactivate_accounts)

    async def _move(self, activity: object) -> None:
        if self._ref is None:  # a customer without a portal account: nothing to hold
            return
        await workflow.execute_activity_method(
            activity,  # type: ignore[arg-type]
            PortalAccountRef(external_ref=self._ref),
            # A customer's access is at stake: it rides out outages of the portal.
            **options.after_commit(System.PORTAL, self._policy.retries),
        )
