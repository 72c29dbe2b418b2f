"""Deciding over HTTP as the authenticated approver: an accepted decision moves the workflow;
a broken rule is refused with the documented status, recorded, and decides nothing."""

import asyncio
from typing import Any

from domain.approvals import RuleViolation
from domain.status import WorkflowStatus
from tests.api.checks import error_of
from tests.helpers import failure_of, start, status, wait_for


def _decide_path(workflow_id: str, approval_id: str = "risk-review") -> str:
    return f"/v1/approvals/{workflow_id}/{approval_id}"


async def _waiting_contractor(client, settings, **overrides):
    """A contractor application (so it needs procurement's `risk-review`), once it waits."""
    handle = await start(
        client, settings, vendor_type="contractor", payment_terms="net15", **overrides
    )
    await wait_for(lambda: _pending(handle), timeout=30, what="the risk-review approval")
    return handle


async def _pending(handle) -> bool:
    return (await status(handle)).pending_approval is not None


async def _read(api, service, workflow_id: str) -> WorkflowStatus:
    answer = await api.get(f"/v1/workflows/{workflow_id}", headers=service("svc-reader"))
    assert answer.status_code == 200, answer.text
    return WorkflowStatus.model_validate(answer.json())


def _decided(status: WorkflowStatus) -> tuple[Any, ...]:
    """What a decision changes (timers may move `due_at` meanwhile; that is not a decision)."""
    approvals = [(a.request.approval_id, a.status, a.decided_by) for a in status.approvals]
    accepted = [d for d in status.decisions if d.accepted]
    return (status.stage, status.steps_done, approvals, accepted)


async def test_approval_by_pat_moves_the_workflow(api, approver, service, client, settings):
    handle = await _waiting_contractor(client, settings)
    before = await _read(api, service, handle.id)
    assert before.pending_approval is not None

    answer = await api.post(
        _decide_path(handle.id),
        json={"decision": "approve", "comment": "contract checked"},
        auth=approver("pat"),
    )

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": True, "status": "approved"}
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.approval == "approved by pat"
    after = await _read(api, service, handle.id)
    assert after.stage == "completed"
    decision = after.decisions[-1]
    assert (decision.approver, decision.channel, decision.comment) == (
        "pat",
        "update",
        "contract checked",
    )


async def test_each_broken_rule_is_refused_and_changes_nothing(
    api, approver, service, client, settings
):
    handle = await _waiting_contractor(client, settings, requested_by="pat")
    before = await _read(api, service, handle.id)

    wrong_role = await api.post(
        _decide_path(handle.id), json={"decision": "approve"}, auth=approver("fiona")
    )
    assert "fiona" in error_of(wrong_role, 403, "WRONG_ROLE")["message"]
    own = await api.post(
        _decide_path(handle.id), json={"decision": "approve"}, auth=approver("pat")
    )
    error_of(own, 403, "SELF_APPROVAL")
    unknown = await api.post(
        _decide_path(handle.id, "no-such-approval"),
        json={"decision": "approve"},
        auth=approver("olga"),
    )
    error_of(unknown, 404, "UNKNOWN_APPROVAL")
    nowhere = await api.post(
        _decide_path("vendor-onboarding-NOBODY-0"),
        json={"decision": "approve"},
        auth=approver("olga"),
    )
    error_of(nowhere, 404, "WORKFLOW_NOT_FOUND")
    claims = await api.post(
        _decide_path(handle.id),
        json={"decision": "approve", "approver": "olga"},
        auth=approver("fiona"),
    )
    assert error_of(claims, 422, "VALIDATION_ERROR")["fields"] == [
        {"field": "approver", "problem": "unknown field"}
    ]
    bad_decision = await api.post(
        _decide_path(handle.id), json={"decision": "maybe"}, auth=approver("olga")
    )
    error_of(bad_decision, 422, "VALIDATION_ERROR")

    after = await _read(api, service, handle.id)
    assert _decided(after) == _decided(before), "a refused decision changed the workflow"
    assert after.pending_approval is not None
    # The refusals that reached the workflow are recorded, and decided nothing.
    assert [(d.approver, d.refused_because) for d in after.decisions] == [
        ("fiona", RuleViolation.WRONG_ROLE),
        ("pat", RuleViolation.SELF_APPROVAL),
        ("olga", RuleViolation.UNKNOWN_APPROVAL),
    ]

    first = await api.post(
        _decide_path(handle.id), json={"decision": "reject"}, auth=approver("olga")
    )
    assert first.status_code == 200 and first.json()["status"] == "rejected"
    decided = await _read(api, service, handle.id)
    second = await api.post(
        _decide_path(handle.id), json={"decision": "approve"}, auth=approver("olga")
    )
    assert error_of(second, 409, "ALREADY_DECIDED")["approval_status"] == "rejected"
    # (the rejection's compensation may be moving the stage meanwhile)
    assert _decided(await _read(api, service, handle.id))[2:] == _decided(decided)[2:]
    await failure_of(handle)


async def test_an_expired_approval_is_already_decided(api, approver, service, client, settings):
    handle = await _waiting_contractor(client, settings)
    error = await failure_of(handle)  # remind 4 s, escalate 4 s, expire 12 s: then compensated
    assert error.type == "APPROVAL_EXPIRED"
    before = await _read(api, service, handle.id)

    late = await api.post(
        _decide_path(handle.id), json={"decision": "approve"}, auth=approver("pat")
    )

    refusal = error_of(late, 409, "ALREADY_DECIDED")
    assert refusal["approval_status"] == "expired" and "expired" in refusal["message"]
    assert await _read(api, service, handle.id) == before


async def test_an_approver_sees_the_approvals_their_roles_may_decide(
    api, approver, service, client, settings
):
    handle = await _waiting_contractor(client, settings)

    async def listed(**kwargs) -> list[str]:
        answer = await api.get("/v1/approvals", **kwargs)
        assert answer.status_code == 200, answer.text
        return [a["workflow_id"] for a in answer.json()["approvals"]]

    assert handle.id in await listed(auth=approver("pat"))
    assert handle.id not in await listed(auth=approver("fiona"))
    assert handle.id in await listed(auth=approver("fiona"), params={"role": "procurement"})
    assert handle.id in await listed(headers=service("svc-reader"))
    assert handle.id not in await listed(headers=service("svc-reader"), params={"role": "finance"})
    bad_role = await api.get("/v1/approvals", params={"role": "a b"}, auth=approver("pat"))
    error_of(bad_role, 422, "VALIDATION_ERROR")

    view = next(
        a
        for a in (await api.get("/v1/approvals", auth=approver("pat"))).json()["approvals"]
        if a["workflow_id"] == handle.id
    )
    assert view["approval_id"] == "risk-review" and view["allowed_roles"] == ["procurement"]
    await handle.cancel()
