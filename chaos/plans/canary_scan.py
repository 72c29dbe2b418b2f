"""Canary secrets and personal data, carried by every plan's runs, looked for in the histories,
the search attributes, the logs and the audit rows. Runs last, so it sees what every plan did."""

from chaos import canaries
from chaos.invariants import Violation
from chaos.plan import Plan, PlanContext, PlanOutcome
from chaos.scenarios import LeadNurtured, VendorRejected, mixed


class Canaries(Plan):
    name = "canaries"
    title = (
        "Every run of every plan carried a canary contact name, email and bank account, and the "
        "mail system's SMTP password was a canary secret; the suite then reads every workflow "
        "history and its search attributes, the worker's, the API's and Temporal's logs and "
        "every audit row, looking for any of them (as text or base64)."
    )

    async def run(self, ctx: PlanContext) -> PlanOutcome:
        # A few runs of its own, failure paths included, so the plan stands alone too.
        scenarios = [VendorRejected(), LeadNurtured()] if ctx.short else mixed(1)
        runs = await ctx.workload(scenarios)
        scanned = await canaries.scan(
            ctx.stack, ctx.driver.client, ctx.canary, ctx.driver.settings.resolved_database_url
        )
        found: dict[str, dict[str, int]] = scanned["found"]
        figures: dict[str, int | float | str] = {
            "looked at": (
                f"{scanned['histories']} histories and their search attributes, "
                f"{scanned['audit_rows']} audit rows, logs of {', '.join(canaries.LOGS)}"
            ),
        }
        violations = []
        for place, counts in found.items():
            figures[f"canaries found in {place}"] = sum(counts.values())
            for name, n in counts.items():
                if n:
                    violations.append(
                        Violation(
                            invariant="no canary leaks", detail=f"canary {name} in {place}: {n}"
                        )
                    )
        return PlanOutcome(runs=runs, figures=figures, violations=violations)
