"""Ambiguous writes on every create call: the system writes, then the answer is lost."""

from chaos.plan import Plan, PlanContext, PlanOutcome, rounds
from chaos.scenarios import mixed

# Every call that creates something, per system (path exact, POST).
CREATES: dict[str, list[str]] = {
    "erp": ["/vendors$", "/approved-suppliers$"],
    "portal": ["/accounts$"],
    "crm": ["/leads$", "/deals$", "/accounts$"],
    "billing": ["/v1/customers$", "/v1/invoices$", "/v1/invoiceitems$"],
    "esign": ["/envelopes$"],
}


def ambiguous_rules(seed: int, rate: float) -> dict[str, list[dict[str, object]]]:
    """Half the failures answer 500 after the write, half drop the connection mid-answer."""
    rules: dict[str, list[dict[str, object]]] = {}
    for n, (system, paths) in enumerate(CREATES.items()):
        rules[system] = [
            {
                "path": path,
                "method": "POST",
                "after_commit": "drop" if (n + i) % 2 else "error",
                "status": 500,
                "error_rate": rate,
                "seed": seed + 10 * n + i,
            }
            for i, path in enumerate(paths)
        ]
    return rules


class AmbiguousWrites(Plan):
    name = "ambiguous-writes"
    title = (
        "Every create call of every system (vendors, supplier list, portal accounts, "
        "leads, deals, accounts, customers, invoices, envelopes) is, at random, served and "
        "committed, and then answered with a 500 or a dropped connection; emails lose their "
        "connection after DATA, before the SMTP server's 250 (retried: the same Message-ID "
        "again, which a receiver drops)."
    )

    async def run(self, ctx: PlanContext) -> PlanOutcome:
        seed = ctx.rng.randrange(1000)

        rate = 0.3 if ctx.short else 0.5

        def inject() -> None:
            for system, rules in ambiguous_rules(seed, rate).items():
                ctx.faults(system, rules)
            ctx.smtp.faults.drop_after_data_rate = rate

        replays_before = ctx.ledger_actions("idempotent_replay")
        dropped_before = ctx.smtp.dropped_after_data
        runs = await ctx.workload(mixed(rounds(ctx)), inject=inject)
        fired = sum(rule["fired"] for rules in ctx.fault_counts().values() for rule in rules)
        replays = ctx.ledger_actions("idempotent_replay") - replays_before
        completed = sum(1 for r in runs if r.closed_status is not None)
        return PlanOutcome(
            runs=runs,
            figures={
                "ambiguous writes injected": fired,
                "emails whose 250 was lost after DATA (then sent again)": (
                    ctx.smtp.dropped_after_data - dropped_before
                ),
                "retries answered from their idempotency key": replays,
                "runs completed / started": f"{completed}/{len(runs)}",
            },
        )
