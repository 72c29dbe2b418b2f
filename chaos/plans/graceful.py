"""Graceful worker shutdown (SIGTERM) during a long, heartbeating activity: the next attempt goes
on from the heartbeat details, and every side effect happens once.

The activity: the approval request to a role of many people (`mail.notify_role`), one email
each, with a heartbeat after each. The plan gives `procurement` ten more people for a while and
makes the SMTP relay slow (the suite's SMTP proxy holds each session back), so the activity
outlasts the worker's shutdown grace period.
"""

import asyncio
from typing import Any

from activities.smtp import AUDIT_METHOD
from chaos.evidence import Ledger, audit_rows
from chaos.invariants import Violation
from chaos.plan import Plan, PlanContext, PlanOutcome
from chaos.scenarios import VendorApproved

DIRECTORY = "backoffice/directory/approvers"
EXTRA_PEOPLE = 10
MAIL_LATENCY_MS = 800


class GracefulShutdown(Plan):
    name = "graceful-shutdown"
    title = (
        "The worker gets SIGTERM while it mails an approval request to a role of twelve "
        "people (one email each, a heartbeat after each, the SMTP relay slow): it waits its "
        "grace period, cancels the activity and exits; a new worker goes on from the "
        "heartbeat details."
    )

    async def run(self, ctx: PlanContext) -> PlanOutcome:
        original = await asyncio.to_thread(_read_directory, ctx)
        await asyncio.to_thread(_write_directory, ctx, _with_extra_people(original))
        # The worker caches secrets for 2 s in the chaos stack (chaos/stack.py), and it now reads
        # the directory at every decision too: let a cached copy without the new people expire.
        await asyncio.sleep(3)
        release = asyncio.Event()
        vendor = VendorApproved()
        vendor.hold = release
        figures: dict[str, int | float | str] = {}

        async def terminate_mid_activity() -> None:
            ctx.smtp.faults.latency_seconds = MAIL_LATENCY_MS / 1000
            workflow_id = await _started(vendor)
            await _emails_sent(ctx, workflow_id, 2)
            await ctx.in_thread(lambda: ctx.stack.stop_worker(graceful=True))
            figures["worker stopped by SIGTERM"] = "yes"
            await ctx.in_thread(ctx.stack.start_worker)
            recipients = await _emails_sent(ctx, workflow_id, EXTRA_PEOPLE + 2, limit=180)
            figures["recipients"] = recipients
            release.set()

        try:
            runs = await ctx.workload([vendor], terminate_mid_activity)
        finally:
            await asyncio.to_thread(_write_directory, ctx, original)
        violations = _check(ctx, vendor.record.workflow_id, vendor.record.business_key, figures)
        return PlanOutcome(runs=runs, figures=figures, violations=violations)


def _read_directory(ctx: PlanContext) -> dict[str, Any]:
    data: dict[str, Any] = ctx.stack.vault_root().secrets.kv.v2.read_secret_version(
        path=DIRECTORY, mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"]
    return data


def _write_directory(ctx: PlanContext, directory: dict[str, Any]) -> None:
    ctx.stack.vault_root().secrets.kv.v2.create_or_update_secret(
        path=DIRECTORY, secret=directory, mount_point="secret"
    )


def _with_extra_people(directory: dict[str, Any]) -> dict[str, Any]:
    approvers = dict(directory.get("approvers", {}))
    for n in range(1, EXTRA_PEOPLE + 1):
        approvers[f"buyer-{n:02d}"] = {
            "name": f"Buyer {n:02d}",
            "email": f"buyer-{n:02d}@company.example",
            "roles": ["procurement"],
        }
    return {**directory, "approvers": approvers}


async def _started(vendor: VendorApproved) -> str:
    while not vendor.record.workflow_id:  # noqa: ASYNC110 (set by the scenario's driver)
        await asyncio.sleep(0.2)
    return vendor.record.workflow_id


def _request_calls(ctx: PlanContext, workflow_id: str) -> list[Any]:
    return [
        r
        for r in audit_rows(ctx.driver.settings.resolved_database_url, workflow_id)
        if r.activity_type == "mail.notify_role" and r.method == AUDIT_METHOD
    ]


async def _emails_sent(ctx: PlanContext, workflow_id: str, wanted: int, limit: float = 60) -> int:
    """Wait until the approval request went to `wanted` people (audited answers); how many."""
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        calls = await asyncio.to_thread(_request_calls, ctx, workflow_id)
        answered = sum(1 for r in calls if r.status is not None and r.status < 300)
        if answered >= wanted or asyncio.get_running_loop().time() > deadline:
            return answered
        await asyncio.sleep(0.3)


def _check(
    ctx: PlanContext, workflow_id: str, key: str, figures: dict[str, int | float | str]
) -> list[Violation]:
    calls = [
        c
        for c in _request_calls(ctx, workflow_id)
        if c.activity_id == _first_activity(ctx, workflow_id)
    ]
    first = [c for c in calls if c.attempt == 1]
    later = [c for c in calls if c.attempt > 1]
    with ctx.admin() as admin:
        ledger = Ledger.read(admin, ctx.stack.mailpit_url)
    emails = [
        r
        for r in ledger.emails(key, "approval-request")
        if (r["data"].get("tags") or {}).get("notification", "").startswith("approval/")
    ]
    people = EXTRA_PEOPLE + 2  # pat and olga hold procurement too
    per_person: dict[str, int] = {}
    for email in emails:
        person = email["data"]["tags"]["notification"].rsplit("/", 1)[-1]
        per_person[person] = per_person.get(person, 0) + 1
    figures["emails sent by the first attempt / the attempts after it"] = (
        f"{len(first)} / {len(later)}"
    )
    figures["people skipped by the next attempt (from the heartbeat details)"] = people - len(later)
    figures["emails per person"] = ", ".join(sorted({str(n) for n in per_person.values()}))
    violations = []
    if not later:
        violations.append(
            Violation(invariant="resumed from heartbeat", detail="the activity was not interrupted")
        )
    elif len(later) >= people:
        violations.append(
            Violation(invariant="resumed from heartbeat", detail="the next attempt started over")
        )
    if len(per_person) != people or any(n != 1 for n in per_person.values()):
        violations.append(
            Violation(invariant="one side effect", detail=f"emails per person: {per_person}")
        )
    return violations


def _first_activity(ctx: PlanContext, workflow_id: str) -> str | None:
    calls = _request_calls(ctx, workflow_id)
    return calls[0].activity_id if calls else None
