"""E-signature: envelopes sent, signed (by the signer, via admin) or voided."""

from __future__ import annotations

from typing import Any

import httpx

from tests.sandbox.conftest import actions, error_of
from tests.sandbox.factories import envelope


def send(esign: httpx.Client, external_ref: str = "DEAL-000001", **overrides: Any) -> Any:
    response = esign.post("/esign/envelopes", json=envelope(external_ref, **overrides))
    assert response.status_code == 201, response.text
    return response.json()


def test_send_get_and_find(esign: httpx.Client, admin: httpx.Client) -> None:
    sent = send(esign)
    assert sent == {
        "id": "ENV-000001",
        "external_ref": "DEAL-000001",
        "status": "sent",
        "document_name": "Order form",
        "document_text": "Acme orders 40 seats.",
        "signer_name": "Ada Lovelace",
        "signer_email": "ada@acme.example",
        "signing_url": "https://esign.sandbox.test/sign/ENV-000001",
        "created_at": sent["created_at"],
        "completed_at": None,
        "voided_at": None,
    }
    send(esign, "DEAL-000002")
    assert esign.get("/esign/envelopes/ENV-000001").json() == sent
    found = esign.get("/esign/envelopes", params={"external_ref": "DEAL-000001"}).json()
    assert found == {"envelopes": [sent]}
    assert len(esign.get("/esign/envelopes", params={"status": "sent"}).json()["envelopes"]) == 2
    assert esign.get("/esign/envelopes/ENV-999999").status_code == 404
    assert actions(admin, "esign") == ["sent", "sent"]


def test_send_is_idempotent(esign: httpx.Client, admin: httpx.Client) -> None:
    headers = {"Idempotency-Key": "envelope-DEAL-000001"}
    first = esign.post("/esign/envelopes", json=envelope(), headers=headers)
    retry = esign.post("/esign/envelopes", json=envelope(), headers=headers)
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    reused = esign.post("/esign/envelopes", json=envelope(signer_name="Bob"), headers=headers)
    assert reused.status_code == 409
    assert error_of(reused)["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert actions(admin, "esign") == ["sent", "idempotent_replay", "rejected"]


def test_send_validation(esign: httpx.Client) -> None:
    for overrides, field in (
        ({"signer_email": "nobody"}, "body.signer_email"),
        ({"document_text": ""}, "body.document_text"),
    ):
        response = esign.post("/esign/envelopes", json=envelope(**overrides))
        assert response.status_code == 422
        assert field in error_of(response)["message"]


def test_sign(esign: httpx.Client, admin: httpx.Client) -> None:
    send(esign)
    signed = admin.post("/_admin/esign/envelopes/ENV-000001/sign")
    assert signed.status_code == 200
    assert signed.json()["status"] == "completed"
    assert signed.json()["completed_at"] is not None
    again = admin.post("/_admin/esign/envelopes/ENV-000001/sign")
    assert again.json() == signed.json()
    assert esign.get("/esign/envelopes/ENV-000001").json() == signed.json()
    [event] = admin.get("/_admin/webhooks/events", params={"system": "esign"}).json()["events"]
    assert event["type"] == "envelope.completed"
    assert event["data"] == {
        "envelope_id": "ENV-000001",
        "external_ref": "DEAL-000001",
        "completed_at": signed.json()["completed_at"],
    }
    assert actions(admin, "esign") == ["sent", "completed", "webhook_emitted"]


def test_void(esign: httpx.Client, admin: httpx.Client) -> None:
    send(esign)
    first = esign.post("/esign/envelopes/ENV-000001/void")
    again = esign.post("/esign/envelopes/ENV-000001/void")
    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == "voided"
    assert first.json()["voided_at"] is not None
    assert again.json() == first.json()
    refused = admin.post("/_admin/esign/envelopes/ENV-000001/sign")
    assert refused.status_code == 422
    assert error_of(refused)["code"] == "ENVELOPE_VOIDED"
    assert admin.get("/_admin/webhooks/events").json() == {"events": []}
    assert actions(admin, "esign") == ["sent", "voided", "rejected"]


def test_a_completed_envelope_cannot_be_voided(esign: httpx.Client, admin: httpx.Client) -> None:
    send(esign)
    admin.post("/_admin/esign/envelopes/ENV-000001/sign").raise_for_status()
    response = esign.post("/esign/envelopes/ENV-000001/void")
    assert response.status_code == 422
    assert error_of(response)["code"] == "ENVELOPE_COMPLETED"
    assert esign.get("/esign/envelopes/ENV-000001").json()["status"] == "completed"


def test_unknown_envelopes(esign: httpx.Client, admin: httpx.Client) -> None:
    assert esign.post("/esign/envelopes/ENV-999999/void").status_code == 404
    assert admin.post("/_admin/esign/envelopes/ENV-999999/sign").status_code == 404


def test_signing_needs_the_admin_token(esign: httpx.Client) -> None:
    send(esign)
    assert esign.post("/_admin/esign/envelopes/ENV-000001/sign").status_code == 401
