"""An approval whose request email cannot be sent is shown to operators (the approvers may not
know they are waited for), a decision through another door still decides it, and the run's
other mail goes out."""

from domain.approvals import Decision
from domain.contract import STAGE, VENDOR_ONBOARDING_ID_PREFIX
from starters.approvals import decide
from starters.directory import Approver
from tests.helpers import Ledger, patient, result_of, start, status, wait_for

PAT = Approver(id="pat", name="Pat", email="pat@company.example", roles=["procurement"])


async def _attention(handle) -> str | None:
    return (await status(handle)).attention


async def _stage(handle) -> list[str]:
    return list((await handle.describe()).search_attributes.get(STAGE.name, []))


async def test_an_approval_email_that_fails_for_good_is_shown_and_cleared_by_the_decision(
    client, settings, admin, mailbox
):
    mailbox.refuse("Recipient", 550)  # the SMTP server refuses every recipient for good
    handle = await start(client, patient(settings), vendor_type="contractor", payment_terms="net15")
    key = handle.id.removeprefix(VENDOR_ONBOARDING_ID_PREFIX)
    await wait_for(lambda: _attention(handle), what="the failed approval email shown")
    shown = await status(handle)
    assert "approval request email not sent (SMTP_550)" in (shown.attention or "")
    assert shown.pending_approval is not None
    await wait_for(lambda: _stage(handle), what="the stage")
    assert await _stage(handle) == ["attention_needed"]
    mailbox.clear_faults()

    # pat decides in the inbox (or anywhere else) without the email.
    assert (await decide(client, PAT, handle.id, Decision.APPROVE, "seen in the inbox")).accepted
    result = await result_of(handle)
    assert result.approval == "approved by pat"
    assert (await status(handle)).attention is None
    assert await _stage(handle) == ["completed"]
    ledger = Ledger(admin)
    assert ledger.emails(key, "approval-request") == []
    assert len(ledger.emails(key, "vendor-welcome")) == 1  # the run's other mail still goes
