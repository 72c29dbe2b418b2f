"""Forged and replayed webhooks and Slack clicks, and unauthorized approvals through every door:
API, Slack, CLI, raw signal, raw update. None may be accepted."""

import asyncio
import json
import secrets
import sys
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from temporalio.client import WorkflowUpdateFailedError

from chaos.invariants import Violation
from chaos.plan import Plan, PlanContext, PlanOutcome
from chaos.scenarios import InvoiceSmall, VendorApproved
from domain.approvals import DecideInput, Decision, SignalDecisionInput
from domain.contract import APPROVE_SIGNAL, DECIDE_UPDATE
from domain.slack import APPROVE_ACTION, SLACK_INTERACTIVITY_PATH
from starters.slack_signature import SIGNATURE_HEADER as SLACK_SIGNATURE
from starters.slack_signature import TIMESTAMP_HEADER as SLACK_TIMESTAMP
from starters.slack_signature import sign as slack_sign
from starters.webhooks.signature import header_for, sign


class Forged(Plan):
    name = "forged"
    title = (
        "Webhooks forged (wrong secret, no signature, another body's signature), replayed "
        "outside the tolerance or redelivered after they were applied, and approvals by the "
        "wrong people through the API, the CLI, a raw signal and a raw update, while a vendor "
        "waits for procurement and an invoice for its payment."
    )

    async def run(self, ctx: PlanContext) -> PlanOutcome:
        release = asyncio.Event()
        vendor, invoice = VendorApproved(), InvoiceSmall()
        vendor.hold = invoice.hold = release
        attempts: dict[str, list[bool]] = {}  # door -> accepted?

        async def forge_while_waiting() -> None:
            await asyncio.gather(vendor.waiting.wait(), invoice.waiting.wait())
            attempts["forged or stale webhooks"] = await _forged_webhooks(ctx, invoice)
            attempts["forged or stale Slack clicks"] = await _forged_slack(
                ctx, vendor.record.workflow_id
            )
            attempts.update(await _unauthorized(ctx, vendor.record.workflow_id))
            release.set()

        runs = await ctx.workload([vendor, invoice], forge_while_waiting)
        attempts["redelivered webhooks applied again"] = await _redeliver(ctx, invoice)
        status = await ctx.driver.status(invoice.record.workflow_id) or {}
        payments = [s for s in status.get("steps_done", []) if s.startswith("payment ")]
        figures: dict[str, int | float | str] = {
            door: f"{sum(tries)} accepted of {len(tries)}" for door, tries in attempts.items()
        }
        figures["payments the invoice applied"] = len(payments)
        violations = [
            Violation(invariant="nothing forged accepted", detail=f"{door}: {sum(tries)}")
            for door, tries in attempts.items()
            if any(tries)
        ]
        if len(payments) != 1:
            violations.append(
                Violation(invariant="nothing forged accepted", detail=f"{len(payments)} payments")
            )
        return PlanOutcome(runs=runs, figures=figures, violations=violations)


def _event(invoice: InvoiceSmall) -> dict[str, Any]:
    number = invoice.record.business_key
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": "invoice.paid",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": f"in_forged{uuid.uuid4().hex[:8]}",
                "object": "invoice",
                "amount_paid": 1,
                "status": "paid",
                "metadata": {"invoice_number": number},
            }
        },
    }


def _secret(ctx: PlanContext, system: str = "billing") -> str:
    data = ctx.stack.vault_root().secrets.kv.v2.read_secret_version(
        path=f"backoffice/webhooks/{system}", mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"]
    return str(data["secrets"][0])


def _slack_click(workflow_id: str, user: str) -> bytes:
    """An Approve click on the vendor's approval message, as Slack would send it."""
    value = json.dumps({"w": workflow_id, "a": "risk-review"})
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "channel": {"id": "C0PROCUREMENT"},
        "actions": [{"action_id": APPROVE_ACTION, "value": value}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


async def _forged_slack(ctx: PlanContext, workflow_id: str) -> list[bool]:
    """Slack clicks forged (wrong secret, none, another body's), replayed late or reordered
    (a signature moved to another timestamp); True where one was taken (a 2xx). Signed clicks
    by people who may not decide (finance, the requester) are sent too: the approval must stay
    open ("approvals they decided")."""
    real = await asyncio.to_thread(_secret, ctx, "slack")
    now = int(time.time())
    body, other = _slack_click(workflow_id, "U0PAT"), _slack_click(workflow_id, "U0OLGA")
    forgeries: list[tuple[bytes, str | None, int]] = [
        (body, slack_sign(body, secrets.token_urlsafe(24), now), now),
        (body, None, now),
        (body, slack_sign(body, real, now - 3600), now - 3600),
        (body, slack_sign(other, real, now), now),
        (body, slack_sign(body, real, now - 10), now),  # reordered: another timestamp
    ]
    accepted = []
    for forged, signature, at in forgeries:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        headers[SLACK_TIMESTAMP] = str(at)
        if signature is not None:
            headers[SLACK_SIGNATURE] = signature
        answer = await ctx.driver.api.post(
            SLACK_INTERACTIVITY_PATH, content=forged, headers=headers
        )
        accepted.append(answer.is_success)
    for user in ("U0FIONA", "U0RORY"):  # signed, but not theirs to decide
        signed = _slack_click(workflow_id, user)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            SLACK_TIMESTAMP: str(now),
            SLACK_SIGNATURE: slack_sign(signed, real, now),
        }
        await ctx.driver.api.post(SLACK_INTERACTIVITY_PATH, content=signed, headers=headers)
    return accepted


async def _forged_webhooks(ctx: PlanContext, invoice: InvoiceSmall) -> list[bool]:
    """Each forgery posted to the API; True where it was accepted (a 2xx)."""
    real = await asyncio.to_thread(_secret, ctx)
    now = int(time.time())
    other = json.dumps(_event(invoice)).encode()
    forgeries: list[tuple[bytes, str | None]] = []
    for _ in range(3):
        body = json.dumps(_event(invoice)).encode()
        forgeries += [
            (body, sign(body, secrets.token_urlsafe(24), now)),  # a wrong secret
            (body, None),  # no signature
            (body, sign(body, real, now - 3600)),  # a replay an hour late
            (body, sign(other, real, now)),  # the signature of another body
            (body, f"t={now},v1={secrets.token_hex(32)}"),  # a made-up MAC
        ]
    accepted = []
    for body, signature in forgeries:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers[header_for("billing")] = signature
        answer = await ctx.driver.api.post("/webhooks/billing", content=body, headers=headers)
        accepted.append(answer.is_success)
    return accepted


async def _unauthorized(ctx: PlanContext, workflow_id: str) -> dict[str, list[bool]]:
    """Decisions by people who may not decide, through every door; True where accepted."""
    api = ctx.driver.api
    passwords = ctx.driver.passwords
    path = f"/v1/approvals/{workflow_id}/risk-review"
    body = {"decision": "approve", "comment": "chaos: not mine to decide"}
    service = ctx.stack.credentials()["api_clients"]["svc-onboarding"]
    api_tries = [
        await api.post(path, json=body, auth=("fiona", passwords["fiona"])),  # wrong role
        await api.post(path, json=body, auth=("rory", passwords["rory"])),  # the requester
        await api.post(path, json=body, auth=("pat", "not-pats-password")),  # wrong password
        await api.post(path, json=body, headers={"Authorization": f"Bearer {service}"}),
        await api.post(
            f"/v1/approvals/{workflow_id}/no-such-approval",
            json=body,
            auth=("pat", passwords["pat"]),
        ),
    ]
    cli_tries = [await _cli(workflow_id, approver) for approver in ("fiona", "rory", "carla")]
    handle = ctx.driver.client.get_workflow_handle(workflow_id)
    wrong = [
        ("fiona", ["finance"], "risk-review"),  # wrong role
        ("rory", ["procurement"], "risk-review"),  # the requester
        ("pat", ["procurement"], "no-such-approval"),  # no such approval
    ]
    for approver, roles, approval_id in wrong:
        await handle.signal(
            APPROVE_SIGNAL,
            SignalDecisionInput(approval_id=approval_id, approver=approver, approver_roles=roles),
        )
    update_tries = []
    for approver, roles, approval_id in wrong:
        try:
            await handle.execute_update(
                DECIDE_UPDATE,
                DecideInput(
                    approval_id=approval_id,
                    decision=Decision.APPROVE,
                    approver=approver,
                    approver_roles=roles,
                ),
            )
            update_tries.append(True)
        except WorkflowUpdateFailedError:
            update_tries.append(False)
    status = await ctx.driver.patiently(
        f"{workflow_id} status", lambda: ctx.driver.status(workflow_id)
    )
    signalled = [d for d in status.get("decisions", []) if d["channel"] == "signal"]
    return {
        "unauthorized decisions via the API": [a.is_success for a in api_tries],
        "unauthorized decisions via the CLI": cli_tries,
        "unauthorized decisions via a raw signal": [bool(d["accepted"]) for d in signalled],
        "unauthorized decisions via a raw update": update_tries,
        "approvals they decided": [status.get("pending_approval") is None],
    }


async def _cli(workflow_id: str, approver: str) -> bool:
    """`backoffice approve <workflow> --as <approver>`; True when it said accepted."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "backoffice.cli", "approve", workflow_id, "--as", approver,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    return await asyncio.wait_for(process.wait(), 120) == 0


async def _redeliver(ctx: PlanContext, invoice: InvoiceSmall) -> list[bool]:
    """Billing sends its (already applied) events again; True where one changed the run."""
    with ctx.admin() as admin:
        events = admin.get("/_admin/webhooks/events", params={"system": "billing"}).json()
        mine = [
            e["id"]
            for e in events["events"]
            if e["data"]["object"]["metadata"].get("invoice_number") == invoice.record.business_key
        ]
        before = await ctx.driver.status(invoice.record.workflow_id) or {}
        for event_id in mine * 2:
            admin.post(f"/_admin/webhooks/events/{event_id}/redeliver").raise_for_status()
    after = await ctx.driver.status(invoice.record.workflow_id) or {}
    changed = len(after.get("steps_done", [])) != len(before.get("steps_done", []))
    return [changed] + [False] * (2 * len(mine) - 1) if mine else []
