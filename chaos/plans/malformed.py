"""Malformed 200 bodies: classified non-retryable, nothing written from them, operators told."""

from datetime import UTC, datetime

from chaos.evidence import Ledger, audit_rows
from chaos.invariants import Violation
from chaos.plan import Plan, PlanContext, PlanOutcome
from chaos.scenarios import InvoiceSmall, LeadNurtured, RunRecord, Scenario, VendorSupplier
from domain.contract import LEAD_TO_CASH

MALFORMED = "MALFORMED_RESPONSE"


class MalformedBodies(Plan):
    name = "malformed-bodies"
    title = (
        "Systems answer 200 with a body that is not their answer: the ERP's validation, the "
        "CRM's account lookup, the portal's create, the enrichment lookup."
    )

    async def run(self, ctx: PlanContext) -> PlanOutcome:
        started = datetime.now(UTC)
        invalid_vendor = VendorSupplier().expect("FAILED", "invalid")
        unknown_account = InvoiceSmall().expect("FAILED", MALFORMED.lower())
        first = await self._phase(
            ctx,
            [invalid_vendor, unknown_account],
            {
                "erp": [{"path": "/vendors/validate$", "method": "POST", "malformed": True}],
                "crm": [{"path": "/accounts", "method": "GET", "malformed": True}],
            },
        )
        no_portal = VendorSupplier().expect("FAILED", MALFORMED.lower())
        second = await self._phase(
            ctx,
            [no_portal, LeadNurtured()],
            {
                "portal": [{"path": "/accounts$", "method": "POST", "malformed": True}],
                "enrichment": [{"method": "GET", "malformed": True}],
            },
        )
        runs, fired = first[0] + second[0], first[1] + second[1]
        ids = {r.workflow_id for r in runs}
        rows = [
            r
            for r in audit_rows(ctx.driver.settings.resolved_database_url)
            if r.at >= started and r.workflow_id in ids and "not JSON" in (r.response_summary or "")
        ]
        with ctx.admin() as admin:
            ledger = Ledger.read(admin, ctx.stack.mailpit_url)
        written = (
            len(ledger.of(invalid_vendor.record.business_key, "vendor"))
            + len([r for r in ledger.of(no_portal.record.business_key) if r["system"] == "portal"])
            + len([r for r in ledger.records if r["kind"] == "customer"
                   and r.get("external_ref") == unknown_account.account_id])
        )  # fmt: skip
        failed = [invalid_vendor.record, unknown_account.record, no_portal.record]
        told = sum(1 for r in failed if _names_the_bad_answer(r))
        violations = []
        if any(r.attempt > 1 for r in rows):
            violations.append(
                Violation(invariant="malformed answers not retried", detail="a retry was made")
            )
        if written:
            violations.append(
                Violation(invariant="nothing written from bad data", detail=f"{written} records")
            )
        if told != len(failed):
            violations.append(
                Violation(
                    invariant="operators told",
                    detail=f"{len(failed) - told} failed runs do not name the bad answer",
                )
            )
        return PlanOutcome(
            runs=runs,
            figures={
                "malformed answers injected": fired,
                "attempts of a call answered malformed": f"{len(rows)} (each tried once)"
                if not violations
                else len(rows),
                "runs failed non-retryably, as planned / planned": (
                    f"{sum(1 for r in failed if r.as_expected)}/{len(failed)}"
                ),
                "records written from the bad data": written,
                "failed runs naming the system and call in their problem": f"{told}/{len(failed)}",
                "lead runs that went on without the enrichment": sum(
                    1 for r in runs if r.process == LEAD_TO_CASH and r.as_expected
                ),
            },
            violations=violations,
        )

    async def _phase(
        self, ctx: PlanContext, scenarios: list[Scenario], rules: dict[str, list[dict[str, object]]]
    ) -> tuple[list[RunRecord], int]:
        def inject() -> None:
            for system, system_rules in rules.items():
                ctx.faults(system, [{**rule, "count": 1} for rule in system_rules])

        runs = await ctx.workload(scenarios, inject=inject)
        fired = sum(rule["fired"] for rules in ctx.fault_counts().values() for rule in rules)
        ctx.clear_faults()
        return runs, fired


def _names_the_bad_answer(run: RunRecord) -> bool:
    problem = run.problem or ""
    return MALFORMED in problem or "not a valid" in problem
