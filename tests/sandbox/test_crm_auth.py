"""CRM OAuth2 client credentials: the token endpoint, expiry, forced expiry and rotation."""

from __future__ import annotations

import base64
import time

import httpx
import pytest

from tests.sandbox.conftest import (
    CRM_CLIENT_ID,
    CRM_CLIENT_SECRET,
    SandboxProcess,
    actions,
    client,
    crm_token,
    error_of,
    events,
)

FORM = {"grant_type": "client_credentials"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_with_the_client_in_the_form(anonymous: httpx.Client, admin: httpx.Client) -> None:
    response = anonymous.post(
        "/crm/oauth/token",
        data={**FORM, "client_id": CRM_CLIENT_ID, "client_secret": CRM_CLIENT_SECRET},
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert response.headers["cache-control"] == "no-store"
    assert anonymous.get("/crm/leads", headers=bearer(body["access_token"])).status_code == 200
    [issued] = [event for event in events(admin, "crm") if event["action"] == "token_issued"]
    assert issued["detail"] == {"client_id": CRM_CLIENT_ID, "expires_in": 3600}
    assert body["access_token"] not in str(events(admin))


def test_token_with_the_client_in_http_basic(anonymous: httpx.Client) -> None:
    response = anonymous.post(
        "/crm/oauth/token", data=FORM, headers=basic(CRM_CLIENT_ID, CRM_CLIENT_SECRET)
    )
    assert response.status_code == 200
    token = response.json()["access_token"]
    assert anonymous.get("/crm/leads", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize(
    "attempt",
    [
        {"data": {**FORM, "client_id": CRM_CLIENT_ID, "client_secret": "not-the-secret"}},
        {"data": {**FORM, "client_id": "intruder", "client_secret": CRM_CLIENT_SECRET}},
        {"data": FORM},
        {"data": FORM, "headers": basic(CRM_CLIENT_ID, "not-the-secret")},
        {"data": FORM, "headers": {"Authorization": "Basic !!!"}},
    ],
)
def test_a_wrong_client_is_invalid_client(
    anonymous: httpx.Client, admin: httpx.Client, attempt: dict[str, dict[str, str]]
) -> None:
    response = anonymous.post("/crm/oauth/token", **attempt)  # type: ignore[arg-type]
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_client"
    assert "not-the-secret" not in response.text
    assert "not-the-secret" not in str(events(admin))
    assert actions(admin, "crm") == ["unauthorized"]


@pytest.mark.parametrize(
    ("request_kwargs", "code"),
    [
        (
            {"data": {"client_id": CRM_CLIENT_ID, "client_secret": CRM_CLIENT_SECRET}},
            "invalid_request",
        ),
        (
            {"data": {"grant_type": "password", "client_id": CRM_CLIENT_ID, "client_secret": "x"}},
            "unsupported_grant_type",
        ),
        (
            {"json": {**FORM, "client_id": CRM_CLIENT_ID, "client_secret": CRM_CLIENT_SECRET}},
            "invalid_request",
        ),
        (
            {
                "data": {**FORM, "client_id": CRM_CLIENT_ID, "client_secret": CRM_CLIENT_SECRET},
                "headers": basic(CRM_CLIENT_ID, CRM_CLIENT_SECRET),
            },
            "invalid_request",
        ),
    ],
)
def test_malformed_token_requests_are_400(
    anonymous: httpx.Client, request_kwargs: dict[str, object], code: str
) -> None:
    response = anonymous.post("/crm/oauth/token", **request_kwargs)  # type: ignore[arg-type]
    assert response.status_code == 400
    assert error_of(response)["code"] == code


def test_routes_need_a_valid_token(anonymous: httpx.Client, admin: httpx.Client) -> None:
    for headers in ({}, bearer("crm_at_made-up"), {"Authorization": f"Bearer {CRM_CLIENT_SECRET}"}):
        response = anonymous.get("/crm/leads", headers=headers)
        assert response.status_code == 401
        assert error_of(response)["code"] == "UNAUTHORIZED"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert actions(admin, "crm") == ["unauthorized"] * 3


def test_a_token_expires(anonymous: httpx.Client, admin: httpx.Client) -> None:
    # Long enough that the token is still fresh at its first use on a busy machine.
    admin.put("/_admin/crm/token-lifetime", json={"seconds": 5}).raise_for_status()
    assert admin.get("/_admin/crm/token-lifetime").json() == {"seconds": 5}
    response = anonymous.post(
        "/crm/oauth/token", data=FORM, headers=basic(CRM_CLIENT_ID, CRM_CLIENT_SECRET)
    )
    assert response.json()["expires_in"] == 5
    token = response.json()["access_token"]
    assert anonymous.get("/crm/leads", headers=bearer(token)).status_code == 200
    time.sleep(5.2)  # never sooner than its lifetime
    expired = anonymous.get("/crm/leads", headers=bearer(token))
    assert expired.status_code == 401
    assert error_of(expired)["code"] == "TOKEN_EXPIRED"
    # A new token works again.
    assert anonymous.get("/crm/leads", headers=bearer(crm_token(anonymous))).status_code == 200


def test_expire_tokens_now(crm: httpx.Client, admin: httpx.Client) -> None:
    assert crm.get("/crm/leads").status_code == 200
    assert admin.post("/_admin/crm/expire-tokens").json() == {"expired": 1}
    response = crm.get("/crm/leads")
    assert response.status_code == 401
    assert error_of(response)["code"] == "TOKEN_EXPIRED"
    assert admin.post("/_admin/crm/expire-tokens").json() == {"expired": 0}


def test_rotation_revokes_outstanding_tokens(
    crm: httpx.Client, anonymous: httpx.Client, admin: httpx.Client
) -> None:
    assert crm.get("/crm/leads").status_code == 200
    rotated = {"client_id": CRM_CLIENT_ID, "client_secret": "rotated-secret"}
    admin.put("/_admin/credentials/crm", json=rotated).raise_for_status()
    refused = crm.get("/crm/leads")
    assert refused.status_code == 401
    assert error_of(refused)["code"] == "UNAUTHORIZED"
    assert "revoked" in error_of(refused)["message"]
    assert "tokens_revoked" in actions(admin, "crm")
    old = anonymous.post(
        "/crm/oauth/token", data=FORM, headers=basic(CRM_CLIENT_ID, CRM_CLIENT_SECRET)
    )
    assert old.status_code == 401
    token = crm_token(anonymous, secret="rotated-secret")
    assert anonymous.get("/crm/leads", headers=bearer(token)).status_code == 200


def test_deleting_the_credentials_revokes_tokens_too(
    crm: httpx.Client, admin: httpx.Client, anonymous: httpx.Client
) -> None:
    admin.delete("/_admin/credentials/crm").raise_for_status()
    assert crm.get("/crm/leads").status_code == 401
    response = anonymous.post(
        "/crm/oauth/token", data=FORM, headers=basic(CRM_CLIENT_ID, CRM_CLIENT_SECRET)
    )
    assert response.status_code == 401
    assert "no credentials configured" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"client_id": "x"}, "body.client_secret"),
        ({"api_keys": ["k"]}, "body.client_id"),
    ],
)
def test_malformed_crm_credentials_are_refused(
    admin: httpx.Client, body: dict[str, object], field: str
) -> None:
    response = admin.put("/_admin/credentials/crm", json=body)
    assert response.status_code == 422
    assert field in error_of(response)["message"]


def test_bad_token_lifetime_is_refused(admin: httpx.Client) -> None:
    for body in ({"seconds": 0}, {"seconds": "soon"}, {}):
        response = admin.put("/_admin/crm/token-lifetime", json=body)
        assert response.status_code == 422 if body else response.status_code == 200


def test_token_endpoint_is_subject_to_faults(sandbox: SandboxProcess, admin: httpx.Client) -> None:
    admin.put("/_admin/faults/crm", json={"path": "/oauth/token", "count": 1}).raise_for_status()
    with client(sandbox.base_url) as anonymous:
        first = anonymous.post(
            "/crm/oauth/token", data=FORM, headers=basic(CRM_CLIENT_ID, CRM_CLIENT_SECRET)
        )
        assert first.status_code == 503
        assert crm_token(anonymous)
