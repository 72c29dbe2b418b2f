"""An approval email that fails for good does not fail the approval: the run waits, is
decided, and completes; only that run's approval emails are refused (scoped fault)."""

from domain.approvals import Decision
from starters.approvals import decide
from starters.directory import Approver
from starters.start import vendor_onboarding_id
from tests.helpers import Ledger, new_application_id, patient, result_of, start, status, wait_for

PAT = Approver(id="pat", name="Pat", email="pat@company.example", roles=["procurement"])


async def test_a_refused_approval_email_leaves_the_approval_decidable(client, settings, admin):
    key = new_application_id()
    refused = {
        "status": 422,
        "code": "REFUSED_BY_TEST",
        "path": "/messages$",
        "method": "POST",
        # The approval emails of this run only (their keys: <workflow id>/mail/approval/...).
        "headers": {"Idempotency-Key": f"{vendor_onboarding_id(key)}/mail/approval/"},
    }
    admin.put("/_admin/faults/mail", json=refused).raise_for_status()
    handle = await start(
        client,
        patient(settings),
        application_id=key,
        vendor_type="contractor",
        payment_terms="net15",
    )
    await wait_for(lambda: _pending(handle), what="the approval to open")
    await wait_for(lambda: _fired(admin) >= 1, what="the approval email refused")

    assert (await decide(client, PAT, handle.id, Decision.APPROVE, "seen in the inbox")).accepted
    result = await result_of(handle)

    assert result.approval == "approved by pat"
    ledger = Ledger(admin)
    assert ledger.emails(key, "approval-request") == []
    assert len(ledger.emails(key, "vendor-welcome")) == 1  # other mail of the run still goes


async def _pending(handle) -> bool:
    return (await status(handle)).pending_approval is not None


def _fired(admin) -> int:
    [rule] = admin.get("/_admin/faults").raise_for_status().json()["faults"]["mail"]
    return int(rule["fired"])
