"""A step past the point of no return fails for good in three lead-to-cash runs (the CRM refuses
the customer's account in two of them, the portal its account in the third): each run waits in the
review queue instead of failing, and a person with the operations role decides it in the inbox
(signed in, the "Needs attention" page, its decision form): retry, skip, compensate. Each run
ends as decided, and nothing is created twice."""

import re
from typing import Any

import httpx

from chaos.driver import DriverGaveUp
from chaos.invariants import Violation
from chaos.plan import Plan, PlanContext, PlanOutcome
from chaos.scenarios import LeadWon, Scenario
from domain.approvals import ApprovalKind, Resolution
from domain.contract import lead_to_cash_id
from domain.errors import ErrorCode

OPERATOR = "omar"
REFUSED = {"status": 422, "code": "REFUSED_BY_CHAOS", "method": "POST", "count": 1}
# (decision, the system that refuses, the create it refuses, how the run then ends)
CASES = (
    (Resolution.RETRY, "crm", "/accounts$", ("COMPLETED", "won")),
    (Resolution.SKIP, "portal", "/accounts$", ("COMPLETED", "won")),
    (
        Resolution.COMPENSATE,
        "crm",
        "/accounts$",
        ("FAILED", ErrorCode.ENDED_BY_OPERATIONS.value.lower()),
    ),
)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class ReviewQueue(Plan):
    name = "review-queue"
    title = (
        "A step after the point of no return fails for good in three lead-to-cash runs: each "
        "waits in the review queue, and operations decide retry, skip and compensate in the "
        "inbox; each run ends as decided and nothing is created twice."
    )

    async def run(self, ctx: PlanContext) -> PlanOutcome:
        scenarios: list[tuple[Resolution, Scenario, str]] = []
        rules: dict[str, list[dict[str, Any]]] = {}
        for decision, system, path, (status, outcome) in CASES:
            lead_id = f"WEB-REVIEW-{decision.value.upper()}-{ctx.rng.randrange(16**8):08X}"
            workflow_id = lead_to_cash_id(lead_id)
            scenario = LeadWon(lead_id=lead_id).expect(status, outcome)
            scenario.record.variant = f"review: {decision.value}"
            scenarios.append((decision, scenario, workflow_id))
            # Only this run's creates meet the refusal (their Idempotency-Key starts with it).
            rule = REFUSED | {"path": path, "headers": {"Idempotency-Key": f"{workflow_id}/"}}
            rules.setdefault(system, []).append(rule)
        decided: dict[str, str] = {}
        seen_waiting: set[str] = set()
        problems: list[Violation] = []

        def inject() -> None:
            for system, system_rules in rules.items():
                ctx.faults(system, system_rules)

        async def operations() -> None:
            async with _Inbox(ctx, OPERATOR) as inbox:
                for decision, _scenario, workflow_id in scenarios:
                    try:
                        item = await ctx.driver.until(
                            workflow_id, _waits_in_review, "the review queue", limit=300
                        )
                    except DriverGaveUp as exc:
                        problems.append(Violation(invariant="waits for review", detail=str(exc)))
                        continue
                    seen_waiting.add(workflow_id)
                    approval_id = item["pending_approval"]["request"]["approval_id"]
                    listed = await inbox.attention_page()
                    if f'data-workflow-id="{workflow_id}"' not in listed:
                        problems.append(
                            Violation(
                                invariant="listed under Needs attention",
                                detail=f"{workflow_id} is not on the inbox's page",
                            )
                        )
                    answer = await inbox.decide(workflow_id, approval_id, decision)
                    decided[workflow_id] = answer.get("message", "")
                    if not answer.get("accepted"):
                        problems.append(
                            Violation(
                                invariant="decided in the inbox",
                                detail=f"{decision.value} on {workflow_id}: {answer}",
                            )
                        )

        runs = await ctx.workload([s for _, s, _ in scenarios], operations, inject=inject)
        as_decided = sum(1 for r in runs if r.as_expected)
        return PlanOutcome(
            runs=runs,
            figures={
                "runs that waited in the review queue": f"{len(seen_waiting)}/{len(scenarios)}",
                "decisions accepted in the inbox (retry, skip, compensate)": sum(
                    1 for message in decided.values() if message
                ),
                "runs ended as decided": f"{as_decided}/{len(runs)}",
            },
            violations=problems,
        )


def _waits_in_review(status: dict[str, Any]) -> bool:
    pending = status.get("pending_approval") or {}
    return bool(pending) and pending["request"].get("kind") == ApprovalKind.ATTENTION.value


class _Inbox:
    """The inbox as a person uses it, over HTTP: the sign-in form, the "Needs attention" page,
    and its decision form (as the page's script sends it, asking for JSON)."""

    def __init__(self, ctx: PlanContext, person: str) -> None:
        self._person = person
        self._password = ctx.driver.passwords[person]
        self._http = httpx.AsyncClient(
            base_url=ctx.stack.api_url, timeout=30, trust_env=False, follow_redirects=True
        )
        self._csrf = ""

    async def __aenter__(self) -> "_Inbox":
        form = await self._http.get("/inbox/sign-in")
        token = _token(form.text)
        signed_in = await self._http.post(
            "/inbox/sign-in",
            data={"approver_id": self._person, "password": self._password, "csrf_token": token},
        )
        signed_in.raise_for_status()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._http.aclose()

    async def attention_page(self) -> str:
        page = await self._http.get("/inbox/attention")
        page.raise_for_status()
        self._csrf = _token(page.text) if "csrf_token" in page.text else self._csrf
        return page.text

    async def decide(
        self, workflow_id: str, approval_id: str, decision: Resolution
    ) -> dict[str, Any]:
        answer = await self._http.post(
            "/inbox/decide",
            data={
                "csrf_token": self._csrf,
                "workflow_id": workflow_id,
                "approval_id": approval_id,
                "decision": decision.value,
                "comment": f"chaos: {decision.value} (done by hand)",
            },
            headers={"Accept": "application/json"},
        )
        body: dict[str, Any] = answer.json()
        return body


def _token(page: str) -> str:
    found = _CSRF.search(page)
    if found is None:
        raise DriverGaveUp("the inbox page has no form token")
    return found.group(1)
