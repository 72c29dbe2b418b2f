"""CRM records: accounts, contacts, leads (deduplicated by email) and deals with stages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.sandbox.conftest import actions, error_of, events
from tests.sandbox.factories import account, deal, lead
from tests.sandbox.receiver import WebhookReceiver, signature_ok


def create(crm: httpx.Client, path: str, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {} if key is None else {"Idempotency-Key": key}
    response = crm.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_accounts(crm: httpx.Client, admin: httpx.Client) -> None:
    created = create(crm, "/crm/accounts", account(domain="Acme.Example"))
    assert created == {
        "id": "ACC-000001",
        "name": "Acme Components GmbH",
        "domain": "acme.example",
        "type": "prospect",
        "billing_email": "billing@acme.example",
        "billing_contact_name": "Ada Lovelace",
        "created_at": created["created_at"],
        "updated_at": created["updated_at"],
    }
    assert crm.get("/crm/accounts/ACC-000001").json() == created
    minimal = create(crm, "/crm/accounts", {"name": "Bare Ltd"})
    assert (minimal["type"], minimal["domain"], minimal["billing_email"]) == (
        "prospect",
        None,
        None,
    )
    assert crm.get("/crm/accounts/ACC-999999").status_code == 404

    changed = crm.patch(
        "/crm/accounts/ACC-000001",
        json={"type": "customer", "billing_email": "ap@acme.example", "billing_contact_name": None},
    )
    assert changed.status_code == 200
    assert changed.json()["type"] == "customer"
    assert changed.json()["billing_email"] == "ap@acme.example"
    assert changed.json()["billing_contact_name"] is None
    assert crm.get("/crm/accounts/ACC-000001").json() == changed.json()
    updated = [event for event in events(admin, "crm") if event["action"] == "updated"]
    assert updated[0]["detail"]["fields"] == ["billing_email", "billing_contact_name", "type"]

    def ids(**params: str) -> list[str]:
        return [a["id"] for a in crm.get("/crm/accounts", params=params).json()["accounts"]]

    assert ids() == ["ACC-000001", "ACC-000002"]
    assert ids(type="customer") == ["ACC-000001"]
    assert ids(type="prospect") == ["ACC-000002"]
    assert ids(domain="ACME.example") == ["ACC-000001"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "partner"}, "body.type"),
        ({"name": None}, "body.name"),
        ({"type": None}, "body.type"),
        ({"status": "closed"}, "body.status"),
        ({"billing_email": "nobody"}, "body.billing_email"),
        ({"domain": "not a domain"}, "body.domain"),
        ({}, "nothing to change"),
    ],
)
def test_account_changes_are_validated(crm: httpx.Client, body: dict[str, Any], field: str) -> None:
    create(crm, "/crm/accounts", account())
    response = crm.patch("/crm/accounts/ACC-000001", json=body)
    assert response.status_code == 422
    assert field in error_of(response)["message"]
    assert crm.patch("/crm/accounts/ACC-999999", json={"name": "x"}).status_code == 404


def test_account_create_is_idempotent(crm: httpx.Client, admin: httpx.Client) -> None:
    first = create(crm, "/crm/accounts", account(), key="account-LEAD-1")
    retry = crm.post("/crm/accounts", json=account(), headers={"Idempotency-Key": "account-LEAD-1"})
    assert retry.status_code == 201
    assert retry.json() == first
    reused = crm.post(
        "/crm/accounts", json=account(name="Other"), headers={"Idempotency-Key": "account-LEAD-1"}
    )
    assert reused.status_code == 409
    assert error_of(reused)["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert [a for a in actions(admin, "crm") if a != "token_issued"] == [
        "created",
        "idempotent_replay",
        "rejected",
    ]


def test_contacts(crm: httpx.Client) -> None:
    create(crm, "/crm/accounts", account())
    body = {"account_id": "ACC-000001", "name": "Ada", "email": "Ada@Acme.example", "role": "cfo"}
    created = create(crm, "/crm/contacts", body, key="contact-1")
    assert created["id"] == "CON-000001"
    assert created["account_id"] == "ACC-000001"
    assert created["role"] == "cfo"
    assert crm.post(
        "/crm/contacts", json=body, headers={"Idempotency-Key": "contact-1"}
    ).json() == (created)
    create(crm, "/crm/contacts", {**body, "email": "bob@acme.example", "role": None})
    listed = crm.get("/crm/contacts", params={"account_id": "ACC-000001"}).json()["contacts"]
    assert [contact["id"] for contact in listed] == ["CON-000001", "CON-000002"]
    by_email = crm.get("/crm/contacts", params={"email": "ada@acme.example"}).json()["contacts"]
    assert [contact["id"] for contact in by_email] == ["CON-000001"]
    assert crm.get("/crm/contacts", params={"account_id": "ACC-9"}).json() == {"contacts": []}
    assert crm.get("/crm/contacts/CON-000001").json() == created
    unknown = crm.post("/crm/contacts", json={**body, "account_id": "ACC-999999"})
    assert unknown.status_code == 404
    assert "ACC-999999" in error_of(unknown)["message"]


def test_leads_are_deduplicated_by_email(crm: httpx.Client, admin: httpx.Client) -> None:
    first = crm.post("/crm/leads", json=lead())
    assert first.status_code == 201
    created = first.json()
    assert created["id"] == "LEAD-000001"
    assert created["status"] == "new"
    assert created["form"] == {"interest": "widgets", "seats": 40}
    assert created["submissions"] == 1
    again = crm.post("/crm/leads", json=lead("ADA@acme.EXAMPLE", source="webinar"))
    assert again.status_code == 200
    assert again.json()["id"] == "LEAD-000001"
    assert again.json()["email"] == "ada@acme.example"
    assert again.json()["submissions"] == 2
    other = crm.post("/crm/leads", json=lead("bob@acme.example"))
    assert other.status_code == 201
    assert other.json()["id"] == "LEAD-000002"
    found = crm.get("/crm/leads", params={"email": "Ada@Acme.Example"}).json()["leads"]
    assert [found_lead["id"] for found_lead in found] == ["LEAD-000001"]
    assert len(crm.get("/crm/leads").json()["leads"]) == 2
    assert crm.get("/crm/leads/LEAD-000001").json() == again.json()
    assert crm.get("/crm/leads/LEAD-999999").status_code == 404
    assert [a for a in actions(admin, "crm") if a != "token_issued"] == [
        "created",
        "deduplicated",
        "created",
    ]


def test_lead_create_is_idempotent(crm: httpx.Client) -> None:
    headers = {"Idempotency-Key": "form-submission-1"}
    first = crm.post("/crm/leads", json=lead(), headers=headers)
    retry = crm.post("/crm/leads", json=lead(), headers=headers)
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.json()["submissions"] == 1


def test_lead_validation(crm: httpx.Client) -> None:
    for body, field in (
        (lead("not-an-email"), "body.email"),
        ({"name": "x"}, "body.email"),
        (lead(form=["a"]), "body.form"),
    ):
        response = crm.post("/crm/leads", json=body)
        assert response.status_code == 422
        assert field in error_of(response)["message"]


def test_deals(crm: httpx.Client) -> None:
    crm.post("/crm/leads", json=lead()).raise_for_status()
    created = create(crm, "/crm/deals", deal(discount_bp=500), key="deal-LEAD-000001")
    assert created == {
        "id": "DEAL-000001",
        "stage": "qualification",
        "name": "Acme widgets 2026",
        "lead_id": "LEAD-000001",
        "account_id": None,
        "amount_cents": 1_200_000,
        "currency": "EUR",
        "owner": "sam.sales",
        "external_ref": None,
        "discount_bp": 500,
        "invoice_id": None,
        "invoice_status": None,
        "notes": [],
        "created_at": created["created_at"],
        "updated_at": created["updated_at"],
    }
    assert crm.get("/crm/deals/DEAL-000001").json() == created
    create(crm, "/crm/accounts", account())
    second = create(
        crm, "/crm/deals", deal(lead_id=None, account_id="ACC-000001", stage="proposal")
    )
    assert second["stage"] == "proposal"

    def ids(**params: str) -> list[str]:
        return [d["id"] for d in crm.get("/crm/deals", params=params).json()["deals"]]

    assert ids() == ["DEAL-000001", "DEAL-000002"]
    assert ids(lead_id="LEAD-000001") == ["DEAL-000001"]
    assert ids(account_id="ACC-000001") == ["DEAL-000002"]
    assert ids(stage="proposal") == ["DEAL-000002"]
    assert crm.get("/crm/deals/DEAL-999999").status_code == 404


@pytest.mark.parametrize(
    ("overrides", "status", "expected"),
    [
        ({"stage": "won"}, 422, "body.stage"),
        ({"amount_cents": -1}, 422, "body.amount_cents"),
        ({"amount_cents": "100"}, 422, "body.amount_cents"),
        ({"discount_bp": 10_001}, 422, "body.discount_bp"),
        ({"currency": "euro"}, 422, "body.currency"),
        ({"lead_id": "LEAD-999999"}, 404, "LEAD-999999"),
        ({"account_id": "ACC-999999"}, 404, "ACC-999999"),
    ],
)
def test_deal_validation(
    crm: httpx.Client, overrides: dict[str, Any], status: int, expected: str
) -> None:
    crm.post("/crm/leads", json=lead()).raise_for_status()
    response = crm.post("/crm/deals", json=deal(**overrides))
    assert response.status_code == status
    assert expected in error_of(response)["message"]


def test_deal_changes(crm: httpx.Client, admin: httpx.Client) -> None:
    crm.post("/crm/leads", json=lead()).raise_for_status()
    create(crm, "/crm/deals", deal())
    create(crm, "/crm/accounts", account())
    changes = {
        "owner": "kim.closer",
        "account_id": "ACC-000001",
        "invoice_id": "INV-000001",
        "invoice_status": "open",
        "amount_cents": 1_000_000,
        "discount_bp": 1000,
        "note": "Agreed on 10 % off.",
    }
    response = crm.patch("/crm/deals/DEAL-000001", json=changes)
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["stage"] == "qualification"
    assert {name: changed[name] for name in changes if name != "note"} == {
        name: value for name, value in changes.items() if name != "note"
    }
    assert [note["text"] for note in changed["notes"]] == ["Agreed on 10 % off."]
    second = crm.patch("/crm/deals/DEAL-000001", json={"note": "Sent the order form."})
    assert [note["text"] for note in second.json()["notes"]] == [
        "Agreed on 10 % off.",
        "Sent the order form.",
    ]
    by_account = crm.get("/crm/deals", params={"account_id": "ACC-000001"}).json()["deals"]
    assert [d["id"] for d in by_account] == ["DEAL-000001"]
    # No stage change, no webhook event.
    assert admin.get("/_admin/webhooks/events").json() == {"events": []}
    for body, field in (
        ({"stage": "won"}, "body.stage"),
        ({"stage": None}, "body.stage"),
        ({"probability": 5}, "body.probability"),
        ({}, "nothing to change"),
    ):
        refused = crm.patch("/crm/deals/DEAL-000001", json=body)
        assert refused.status_code == 422
        assert field in error_of(refused)["message"]
    assert crm.patch("/crm/deals/DEAL-000001", json={"account_id": "ACC-9"}).status_code == 404
    assert crm.patch("/crm/deals/DEAL-999999", json={"owner": "x"}).status_code == 404


def test_a_retried_patch_with_a_key_adds_the_note_once(crm: httpx.Client) -> None:
    crm.post("/crm/leads", json=lead()).raise_for_status()
    create(crm, "/crm/deals", deal())
    headers = {"Idempotency-Key": "note-invoice-sent"}
    body = {"note": "Invoice sent.", "invoice_status": "open"}
    first = crm.patch("/crm/deals/DEAL-000001", json=body, headers=headers)
    retry = crm.patch("/crm/deals/DEAL-000001", json=body, headers=headers)
    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert len(crm.get("/crm/deals/DEAL-000001").json()["notes"]) == 1


def test_stage_changes_emit_signed_webhooks(
    crm: httpx.Client, admin: httpx.Client, receiver: WebhookReceiver
) -> None:
    admin.put("/_admin/webhooks/crm", json={"url": receiver.url, "secret": "crm-secret"})
    crm.post("/crm/leads", json=lead()).raise_for_status()
    create(crm, "/crm/deals", deal())
    for stage in ("proposal", "proposal", "closed_won"):
        crm.patch("/crm/deals/DEAL-000001", json={"stage": stage}).raise_for_status()
    first, second = receiver.wait_for(2)
    assert all(signature_ok(delivery, "crm-secret") for delivery in (first, second))
    assert [d.event["type"] for d in (first, second)] == ["deal.stage_changed"] * 2
    assert first.event["system"] == "crm"
    deal_now = crm.get("/crm/deals/DEAL-000001").json()
    assert deal_now["stage"] == "closed_won"
    assert second.event["data"] == {
        "deal_id": "DEAL-000001",
        "external_ref": None,
        "lead_id": "LEAD-000001",
        "account_id": None,
        "previous_stage": "proposal",
        "stage": "closed_won",
        "changed_at": deal_now["updated_at"],
    }
    assert first.event["data"]["previous_stage"] == "qualification"
    stage_events = [e for e in events(admin, "crm") if e["action"] == "stage_changed"]
    assert [e["detail"] for e in stage_events] == [
        {"from": "qualification", "to": "proposal"},
        {"from": "proposal", "to": "closed_won"},
    ]
