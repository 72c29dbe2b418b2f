"""LeadToCash while the deal is in the pipeline: each silence reminds the owner again, and the
owner is the same rep for the same lead however often the run is retried or reset."""

import asyncio
from datetime import timedelta
from typing import Any

from domain.contract import LEAD_TO_CASH, lead_to_cash_id
from domain.lead import LeadForm, LeadToCashInput, LeadToCashResult, owner_for
from domain.systems import WORKFLOW_TASK_QUEUE
from starters.sandbox_actions import move_deal
from tests.helpers import Ledger, wait_for
from tests.test_lead_to_cash import _deal_of, lead_form


async def test_every_silence_reminds_the_owner_again(client, settings, admin):
    form = LeadForm.model_validate(lead_form())
    policy = settings.lead_policy().model_copy(
        update={"owner_reminder_after": timedelta(seconds=2), "stale_after": timedelta(minutes=5)}
    )
    handle = await client.start_workflow(
        LEAD_TO_CASH,
        LeadToCashInput(form=form, policy=policy),
        id=lead_to_cash_id(form.lead_id),
        task_queue=WORKFLOW_TASK_QUEUE,
        result_type=LeadToCashResult,
    )
    deal_id = await _deal_of(handle)

    def reminders() -> list[dict[str, Any]]:
        return Ledger(admin).emails(form.lead_id, "deal-reminder")

    await wait_for(lambda: len(reminders()) == 1, what="the first reminder")
    move_deal(settings, deal_id, "proposal")
    await wait_for(lambda: len(reminders()) == 2, what="the second reminder")
    move_deal(settings, deal_id, "closed_lost")
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.outcome == "lost"
    owner = owner_for(form.lead_id, policy.sales_reps)
    assert result.owner == owner
    assert [m["data"]["to"] for m in reminders()] == [owner, owner]
