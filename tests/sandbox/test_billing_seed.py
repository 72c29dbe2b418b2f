"""Billing's bulk seeding (admin) and a seeded day paged with Stripe's list semantics: every
invoice once, newest first, `has_more` false on the last page."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx

from tests.sandbox.conftest import SandboxProcess, client

V1 = "/billing/v1"
SEED = "/_admin/billing/invoices/seed"


def test_a_seeded_day_pages_through_every_invoice_once(
    billing: httpx.Client, admin: httpx.Client
) -> None:
    seeded = admin.post(
        SEED,
        json={"day": "2026-03-04", "count": 5_000, "prefix": "DAY", "deal_ids": ["D-1", "D-2"]},
    )
    assert seeded.status_code == 201, seeded.text
    start = int(datetime(2026, 3, 4, tzinfo=UTC).timestamp())
    window = {"created[gte]": start, "created[lt]": start + 86_400, "limit": 100}
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = dict(window)
    pages = 0
    while True:
        listed = billing.get(f"{V1}/invoices", params=params).json()
        pages += 1
        seen += listed["data"]
        if not listed["has_more"]:
            break
        params = {**window, "starting_after": listed["data"][-1]["id"]}
    assert pages == 50 and len({i["id"] for i in seen}) == 5_000
    created = [i["created"] for i in seen]
    assert created == sorted(created, reverse=True)
    assert all(start <= c < start + 86_400 for c in created)
    first = seen[-1]  # the oldest: the day's first invoice
    assert first["metadata"] == {"invoice_number": "DAY-000001", "crm_deal_id": "D-1"}
    assert first["status"] == "open" and first["status_transitions"]["finalized_at"] == start
    assert first["total"] == first["subtotal"] + first["total_taxes"][0]["amount"]
    # An invoice of the seed reads like any other, by id and by search.
    one = billing.get(f"{V1}/invoices/{first['id']}").json()
    assert one["number"] == "DAY-000001"
    day_before = date(2026, 3, 3)
    other = admin.post(SEED, json={"day": day_before.isoformat(), "count": 3, "prefix": "EVE"})
    assert other.status_code == 201
    again = billing.get(f"{V1}/invoices", params={**window, "limit": 100}).json()
    assert all(i["metadata"]["invoice_number"].startswith("DAY-") for i in again["data"])


def test_seeding_needs_the_admin_token_and_names_bad_fields(
    sandbox: SandboxProcess, admin: httpx.Client
) -> None:
    with client(sandbox.base_url) as anonymous:
        refused = anonymous.post(SEED, json={"day": "2026-03-04", "count": 1})
        assert refused.status_code == 401
    bad = admin.post(SEED, json={"day": "2026-03-04", "count": 1, "time_zone": "Mars/Olympus"})
    assert bad.status_code == 422 and "time_zone" in bad.text and "Mars/Olympus" in bad.text
    too_many = admin.post(SEED, json={"day": "2026-03-04", "count": 300_000})
    assert too_many.status_code == 422 and "count" in too_many.text
