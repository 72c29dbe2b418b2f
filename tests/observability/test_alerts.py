"""The alerting rules shipped in deploy/prometheus/alerts.yml: each is documented, and each
expression uses only metrics the real stack's worker and API endpoints serve (scraped here after
the product exported them: a failed call, a webhook, a pending approval past its due time)."""

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from domain import metrics
from domain.contract import vendor_onboarding_id
from tests.helpers import for_run, new_application_id, start, wait_for
from tests.observability.prometheus import Scrape

pytestmark = pytest.mark.timeout(300)

RULES = Path("deploy/prometheus/alerts.yml")
OPERATIONS = Path("docs/operations.md")
METRIC = re.compile(r"\b((?:backoffice|temporal)_[a-z_]+)\b")


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_alert_is_documented_with_what_to_do() -> None:
    rules = _rules()
    assert {r["alert"] for r in rules} >= {
        "BackofficeCircuitOpen",
        "BackofficeApprovalsOverdue",
        "BackofficeWebhookDeadLetters",
        "BackofficeExternalCallsFailing",
        "BackofficeWorkerNotPolling",
    }
    headings = {
        line.removeprefix("### ").strip().lower()
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("### ")
    }
    for rule in rules:
        assert rule["expr"].strip() and rule["annotations"]["summary"]
        anchor = rule["annotations"]["runbook"].partition("#")[2]
        assert anchor == rule["alert"].lower() and anchor in headings, rule["alert"]


async def test_every_metric_an_alert_uses_is_served_by_the_stack(
    stack, client, settings, admin
) -> None:
    where = stack.addresses
    assert where.worker_metrics and where.api_metrics
    # A failed call (the worker's error counter), a webhook (the API's), a pending approval past
    # its due time (the stack's reminder is 4 s).
    key = new_application_id()
    once = {"status": 503, "path": "/accounts$", "method": "POST", "count": 1}
    admin.put(
        "/_admin/faults/portal", json=for_run(vendor_onboarding_id(key), once)
    ).raise_for_status()
    failing = await start(client, settings, application_id=key)
    # A contractor: procurement approves before anything is created.
    waiting = await start(client, settings, vendor_type="contractor", payment_terms="net30")
    with httpx.Client(base_url=stack.api_url, timeout=30, trust_env=False) as api:
        refused = api.post("/webhooks/billing", content=b"{}", headers={"Stripe-Signature": "x"})
    assert refused.status_code == 401
    await asyncio.wait_for(failing.result(), 90)

    def overdue() -> float:
        return Scrape(where.api_metrics).value(metrics.APPROVALS_OVERDUE)

    await wait_for(lambda: overdue() >= 1, timeout=60, what="an overdue approval in the gauge")
    served = Scrape(where.worker_metrics).names | Scrape(where.api_metrics).names
    for rule in _rules():
        used = set(METRIC.findall(rule["expr"]))
        assert used and used <= served, f"{rule['alert']}: {used - served} not served"
    pollers = Scrape(where.worker_metrics).series("temporal_num_pollers")
    assert "workflow_task" in {s.labels.get("poller_type") for s in pollers}
    await waiting.cancel()
