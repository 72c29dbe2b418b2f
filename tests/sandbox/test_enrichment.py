"""Enrichment: deterministic company data per domain, and the built-in rate limit."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.sandbox.conftest import ENRICHMENT_KEY, SandboxProcess, client, error_of

COUNTRIES = {
    "DE",
    "AT",
    "CH",
    "FR",
    "NL",
    "ES",
    "IT",
    "SE",
    "DK",
    "PL",
    "GB",
    "IE",
    "US",
    "CA",
    "AU",
}

# One new request per 5 s: a test's calls come long before a refill, however busy the machine,
# so what is served and what is limited depends on order and counts alone.
SLOW = 0.2


def test_company_data_is_derived_from_the_domain(enrichment: httpx.Client) -> None:
    response = enrichment.get("/enrichment/companies/acme-tools.example")
    assert response.status_code == 200
    company = response.json()
    assert set(company) == {"domain", "name", "employees", "industry", "country", "founded"}
    assert company["domain"] == "acme-tools.example"
    assert company["name"].startswith("Acme Tools ")
    assert isinstance(company["employees"], int) and 1 <= company["employees"] <= 40_000
    assert company["country"] in COUNTRIES
    assert 1950 <= company["founded"] <= 2024
    # Same domain (any case), same answer; another domain, another company.
    assert enrichment.get("/enrichment/companies/ACME-tools.Example").json() == company
    other = enrichment.get("/enrichment/companies/globex.example").json()
    assert other["name"].startswith("Globex ")
    assert other != company


def test_profiles_vary_across_domains(sandbox: SandboxProcess, admin: httpx.Client) -> None:
    admin.put("/_admin/enrichment/rate-limit", json={"per_second": 1000}).raise_for_status()
    headers = {"Authorization": f"Bearer {ENRICHMENT_KEY}"}
    with client(sandbox.base_url, headers=headers) as enrichment:
        profiles = [
            enrichment.get(f"/enrichment/companies/company{n}.example").json() for n in range(40)
        ]
    assert len({p["industry"] for p in profiles}) >= 5
    assert len({p["country"] for p in profiles}) >= 5
    assert len({p["employees"] for p in profiles}) >= 30


@pytest.mark.parametrize("domain", ["localhost", "no_underscores.example", "-acme.example", "a..b"])
def test_invalid_domains_are_422(enrichment: httpx.Client, domain: str) -> None:
    response = enrichment.get(f"/enrichment/companies/{domain}")
    assert response.status_code == 422
    assert error_of(response)["code"] == "INVALID_DOMAIN"


def test_needs_the_api_key(anonymous: httpx.Client) -> None:
    response = anonymous.get("/enrichment/companies/acme.example")
    assert response.status_code == 401
    wrong = anonymous.get(
        "/enrichment/companies/acme.example", headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401


def test_rate_limit_answers_429_with_retry_after(
    enrichment: httpx.Client, admin: httpx.Client
) -> None:
    admin.put(
        "/_admin/enrichment/rate-limit", json={"per_second": SLOW, "burst": 3}
    ).raise_for_status()
    statuses = [enrichment.get("/enrichment/companies/acme.example").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = enrichment.get("/enrichment/companies/acme.example")
    assert limited.status_code == 429
    assert error_of(limited)["code"] == "RATE_LIMITED"
    retry_after = int(limited.headers["retry-after"])
    assert retry_after >= 1
    time.sleep(retry_after)
    assert enrichment.get("/enrichment/companies/acme.example").status_code == 200
    counts = admin.get("/_admin/enrichment/rate-limit").json()
    assert counts == {"per_second": SLOW, "burst": 3, "served": 4, "limited": 2}


def test_the_default_is_five_per_second(enrichment: httpx.Client, admin: httpx.Client) -> None:
    assert admin.get("/_admin/enrichment/rate-limit").json() == {
        "per_second": 5.0,
        "burst": 5,
        "served": 0,
        "limited": 0,
    }
    statuses = [enrichment.get("/enrichment/companies/acme.example").status_code for _ in range(20)]
    # The burst of five passes; then the limit answers (tokens that came back meanwhile
    # depend on the machine's speed, so no count after the burst is asserted).
    assert statuses[:5] == [200] * 5 and 429 in statuses


def test_each_api_key_has_its_own_bucket(sandbox: SandboxProcess, admin: httpx.Client) -> None:
    admin.put(
        "/_admin/credentials/enrichment", json={"api_keys": ["key-a", "key-b"]}
    ).raise_for_status()
    admin.put(
        "/_admin/enrichment/rate-limit", json={"per_second": SLOW, "burst": 1}
    ).raise_for_status()
    with client(sandbox.base_url) as caller:

        def get(key: str) -> int:
            headers = {"Authorization": f"Bearer {key}"}
            return caller.get("/enrichment/companies/acme.example", headers=headers).status_code

        assert [get("key-a"), get("key-a"), get("key-b")] == [200, 429, 200]
        # A refused caller (wrong key) is 401 and takes no token.
        assert get("wrong") == 401


def test_rate_limited_requests_are_not_served_or_logged(
    enrichment: httpx.Client, admin: httpx.Client
) -> None:
    admin.put(
        "/_admin/enrichment/rate-limit", json={"per_second": SLOW, "burst": 1}
    ).raise_for_status()
    enrichment.get("/enrichment/companies/acme.example").raise_for_status()
    assert enrichment.get("/enrichment/companies/not_valid").status_code == 429
    assert admin.get("/_admin/ledger", params={"system": "enrichment"}).json()["events"] == []


def test_faults_apply_before_the_rate_limit(enrichment: httpx.Client, admin: httpx.Client) -> None:
    admin.put(
        "/_admin/enrichment/rate-limit", json={"per_second": SLOW, "burst": 1}
    ).raise_for_status()
    admin.put("/_admin/faults/enrichment", json={"count": 2}).raise_for_status()
    assert [enrichment.get("/enrichment/companies/acme.example").status_code for _ in range(3)] == [
        503,
        503,
        200,
    ]


def test_bad_rate_limits_are_refused(admin: httpx.Client) -> None:
    for body, field in (
        ({"per_second": 0}, "body.per_second"),
        ({"per_second": 5, "burst": 0}, "body.burst"),
        ({"rate": 5}, "body.rate"),
    ):
        response = admin.put("/_admin/enrichment/rate-limit", json=body)
        assert response.status_code == 422
        assert field in error_of(response)["message"]
