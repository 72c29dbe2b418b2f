"""429 storms with Retry-After, 5xx bursts and answers slower than the HTTP timeout; for mail,
4xx replies from the SMTP server and the SMTP server down for a while. The storms last
`STORM_SECONDS`, then pass, as storms do: every run must then complete. (Standing until the end,
a 20 % 5xx rate on billing fails about half of the attempts that make four requests, and a run's
backoff could reach the driver's five-minute patience: one CI run in a few.)"""

import asyncio
from datetime import UTC, datetime

from chaos.audit_figures import attempt_figures, since
from chaos.evidence import AuditAttempt, audit_rows
from chaos.invariants import Violation
from chaos.plan import Plan, PlanContext, PlanOutcome, rounds
from chaos.scenarios import mixed

RETRY_AFTER = {"enrichment": 2.0, "crm": 1.0}
# The retry policy backs off to 30 s between attempts: a call that sends more attempts than
# this under these faults is a retry storm (attempts its open circuit breaker refused send
# nothing and are not counted: chaos/audit_figures.py).
MAX_ATTEMPTS = 12
# Mail: "451 try again later" to this share of the SMTP sessions, and the server stopped once.
SMTP_REFUSED_PERCENT = 40
SMTP_DOWN_SECONDS = 5.0
STORM_SECONDS = 30.0
# A 5xx (permanent) for one approver's address: approval emails fail, approvals go on.
REFUSED_APPROVER = "olga@company.example"


def storm_rules(seed: int) -> dict[str, list[dict[str, object]]]:
    return {
        "enrichment": [{"status": 429, "retry_after": 2, "count": 3}],
        "crm": [{"status": 429, "retry_after": 1, "error_rate": 0.3, "seed": seed}],
        "billing": [
            {"status": 502, "count": 3},
            {"status": 503, "error_rate": 0.2, "seed": seed + 1},
        ],
        "erp": [{"status": 500, "error_rate": 0.3, "seed": seed + 2}],
        # Past the 3 s HTTP timeout: the caller gives up, the system still writes.
        "portal": [{"path": "/accounts$", "method": "POST", "latency_ms": 4000, "count": 2}],
        "esign": [{"path": "/envelopes$", "method": "POST", "latency_ms": 4000, "count": 1}],
    }


class HttpStorms(Plan):
    name = "http-storms"
    title = (
        "Rate limits (429 with Retry-After) on the CRM and enrichment, 5xx bursts on billing "
        "and the ERP, creates in the portal and e-signature answered after the HTTP timeout, "
        "the SMTP server answering 451 to 40 % of the sessions, 550 to one approver's "
        f"address and down for a few seconds, for {STORM_SECONDS:g} s while every process runs."
    )

    async def run(self, ctx: PlanContext) -> PlanOutcome:
        seed = ctx.rng.randrange(1000)
        started = datetime.now(UTC)

        def inject() -> None:
            for system, rules in storm_rules(seed).items():
                ctx.faults(system, rules)
            ctx.mailbox.refuse("Recipient", 451, SMTP_REFUSED_PERCENT)
            ctx.smtp.faults.refused_recipients = {REFUSED_APPROVER: 550}

        async def smtp_outage() -> None:
            await asyncio.sleep(1.0)
            await ctx.in_thread(ctx.stack.stop_mailpit)
            try:
                await asyncio.sleep(SMTP_DOWN_SECONDS)
            finally:
                await ctx.in_thread(ctx.stack.start_mailpit)
            ctx.mailbox.refuse("Recipient", 451, SMTP_REFUSED_PERCENT)  # a restart forgets it

        async def storms_pass() -> None:
            # The workload clears every fault then; the SMTP server is back by then.
            await asyncio.gather(asyncio.sleep(STORM_SECONDS), outage)

        outage = asyncio.create_task(smtp_outage())
        try:
            runs = await ctx.workload(mixed(rounds(ctx)), storms_pass, inject=inject)
        finally:
            await outage
        ids = {r.workflow_id for r in runs} | {r.child_workflow_id for r in runs}
        rows = [
            r
            for r in since(audit_rows(ctx.driver.settings.resolved_database_url), started)
            if r.workflow_id in ids
        ]
        seen = attempt_figures(rows, RETRY_AFTER)
        violations = []
        if seen.honoured != seen.retried_after_429:
            violations.append(
                Violation(
                    invariant="Retry-After honoured",
                    detail=f"{seen.retried_after_429 - seen.honoured} retries came too early",
                )
            )
        if seen.max_attempt > MAX_ATTEMPTS:
            violations.append(
                Violation(
                    invariant="attempts bounded",
                    detail=f"a call took {seen.max_attempt} attempts (bound {MAX_ATTEMPTS})",
                )
            )
        return PlanOutcome(
            runs=runs,
            figures={
                "HTTP attempts / calls": f"{seen.attempts}/{seen.calls}",
                "429 answers": seen.rate_limited,
                "Retry-After honoured": f"{seen.honoured}/{seen.retried_after_429}",
                "5xx answers": seen.server_errors,
                "timeouts (slow answers)": seen.timeouts,
                "most attempts of one call": f"{seen.max_attempt} (bound {MAX_ATTEMPTS})",
                "attempts refused by an open circuit breaker (nothing sent)": seen.circuit_refused,
                "SMTP 4xx / 5xx replies / attempts while the SMTP server was down": " / ".join(
                    str(n) for n in _smtp_failures(rows)
                ),
            },
            violations=violations,
        )


def _smtp_failures(rows: list[AuditAttempt]) -> tuple[int, int, int]:
    mail = [r.status for r in rows if r.system == "mail"]
    return (
        sum(1 for s in mail if s is not None and 400 <= s < 500),
        sum(1 for s in mail if s is not None and s >= 500),
        sum(1 for s in mail if s is None),
    )
