"""Each system's auth scheme: nothing set, missing, wrong, right, and rotated credentials."""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx
import pytest

from tests.sandbox.conftest import (
    BILLING_KEY,
    ENRICHMENT_KEY,
    ERP_PASSWORD,
    ERP_USER,
    ESIGN_KEY,
    PORTAL_KEY,
    error_of,
    events,
)

Headers = dict[str, str]


def basic(username: str, password: str) -> Headers:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def api_key(key: str) -> Headers:
    return {"X-Api-Key": key}


def bearer(key: str) -> Headers:
    return {"Authorization": f"Bearer {key}"}


# system, a read-only route, headers for a secret, the secret in use, new credentials body
SCHEMES: list[tuple[str, str, Callable[[str], Headers], str, Callable[[str], object]]] = [
    (
        "erp",
        "/erp/vendors",
        lambda secret: basic(ERP_USER, secret),
        ERP_PASSWORD,
        lambda secret: {"username": ERP_USER, "password": secret},
    ),
    ("portal", "/portal/accounts", api_key, PORTAL_KEY, lambda key: {"api_keys": [key]}),
    ("billing", "/billing/v1/invoices", bearer, BILLING_KEY, lambda key: {"api_keys": [key]}),
    ("esign", "/esign/envelopes", api_key, ESIGN_KEY, lambda key: {"api_keys": [key]}),
    (
        "enrichment",
        "/enrichment/companies/acme.example",
        bearer,
        ENRICHMENT_KEY,
        lambda key: {"api_keys": [key]},
    ),
]


@pytest.mark.parametrize(("system", "route", "headers_for", "secret", "body_for"), SCHEMES)
def test_right_credentials_pass(
    anonymous: httpx.Client,
    system: str,
    route: str,
    headers_for: Callable[[str], Headers],
    secret: str,
    body_for: Callable[[str], object],
) -> None:
    response = anonymous.get(route, headers=headers_for(secret))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("system", "route", "headers_for", "secret", "body_for"), SCHEMES)
def test_missing_and_wrong_credentials_are_401_and_logged(
    anonymous: httpx.Client,
    admin: httpx.Client,
    system: str,
    route: str,
    headers_for: Callable[[str], Headers],
    secret: str,
    body_for: Callable[[str], object],
) -> None:
    missing = anonymous.get(route)
    wrong = anonymous.get(route, headers=headers_for("not-the-secret"))
    for response in (missing, wrong):
        assert response.status_code == 401
        assert _refusal(response)["code"] in ("UNAUTHORIZED", "authentication_error")
        assert "not-the-secret" not in response.text
    refusals = [event for event in events(admin, system) if event["action"] == "unauthorized"]
    assert len(refusals) == 2
    assert all(event["record_id"] is None for event in refusals)
    assert "not-the-secret" not in str(refusals)


@pytest.mark.parametrize(("system", "route", "headers_for", "secret", "body_for"), SCHEMES)
def test_rotation_leaves_only_the_new_credentials_working(
    anonymous: httpx.Client,
    admin: httpx.Client,
    system: str,
    route: str,
    headers_for: Callable[[str], Headers],
    secret: str,
    body_for: Callable[[str], object],
) -> None:
    admin.put(f"/_admin/credentials/{system}", json=body_for("rotated-secret")).raise_for_status()
    assert anonymous.get(route, headers=headers_for(secret)).status_code == 401
    assert anonymous.get(route, headers=headers_for("rotated-secret")).status_code == 200


@pytest.mark.parametrize(("system", "route", "headers_for", "secret", "body_for"), SCHEMES)
def test_a_system_without_credentials_refuses_everything(
    anonymous: httpx.Client,
    admin: httpx.Client,
    system: str,
    route: str,
    headers_for: Callable[[str], Headers],
    secret: str,
    body_for: Callable[[str], object],
) -> None:
    admin.delete(f"/_admin/credentials/{system}").raise_for_status()
    response = anonymous.get(route, headers=headers_for(secret))
    assert response.status_code == 401
    assert "no credentials configured" in _refusal(response)["message"]


@pytest.mark.parametrize("system", ["portal", "billing", "esign", "enrichment"])
def test_api_key_lists_allow_a_gradual_rotation(
    anonymous: httpx.Client, admin: httpx.Client, system: str
) -> None:
    route = {
        "portal": "/portal/accounts",
        "enrichment": "/enrichment/companies/acme.example",
        "billing": "/billing/v1/invoices",
        "esign": "/esign/envelopes",
    }[system]
    schemes = {"portal": api_key, "billing": bearer, "esign": api_key, "enrichment": bearer}
    headers_for = schemes[system]
    admin.put(
        f"/_admin/credentials/{system}", json={"api_keys": ["old-key", "new-key"]}
    ).raise_for_status()
    assert anonymous.get(route, headers=headers_for("old-key")).status_code == 200
    assert anonymous.get(route, headers=headers_for("new-key")).status_code == 200


def test_basic_auth_challenges_and_rejects_malformed_headers(
    anonymous: httpx.Client,
) -> None:
    response = anonymous.get("/erp/vendors")
    assert response.headers["www-authenticate"].startswith("Basic")
    for header in ("Basic !!!not-base64", "Basic " + base64.b64encode(b"no-colon").decode()):
        refused = anonymous.get("/erp/vendors", headers={"Authorization": header})
        assert refused.status_code == 401
    wrong_user = anonymous.get("/erp/vendors", headers=basic("intruder", ERP_PASSWORD))
    assert wrong_user.status_code == 401


def test_schemes_are_not_interchangeable(anonymous: httpx.Client) -> None:
    # The portal key as a Bearer, the enrichment key in the portal's header and as an API key.
    assert anonymous.get("/portal/accounts", headers=bearer(PORTAL_KEY)).status_code == 401
    company = "/enrichment/companies/acme.example"
    assert anonymous.get(company, headers=api_key(ENRICHMENT_KEY)).status_code == 401
    assert anonymous.get("/portal/accounts", headers=api_key(ENRICHMENT_KEY)).status_code == 401
    assert anonymous.get("/billing/v1/invoices", headers=api_key(BILLING_KEY)).status_code == 401
    assert anonymous.get("/esign/envelopes", headers=bearer(ESIGN_KEY)).status_code == 401
    assert anonymous.get("/crm/leads", headers=bearer(BILLING_KEY)).status_code == 401


def _refusal(response: httpx.Response) -> dict[str, str]:
    """The error of a 401: billing answers in Stripe's shape (`type`, no `code`)."""
    error = response.json()["error"]
    if set(error) == {"type", "message"}:
        return {"code": error["type"], "message": error["message"]}
    return error_of(response)
