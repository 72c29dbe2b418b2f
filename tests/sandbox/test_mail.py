"""Mail: sending (idempotently) and inspecting the outbox."""

from __future__ import annotations

import httpx

from tests.sandbox.conftest import actions, error_of
from tests.sandbox.factories import message


def send(mail: httpx.Client, key: str, **overrides: object) -> httpx.Response:
    return mail.post("/mail/messages", json=message(**overrides), headers={"Idempotency-Key": key})


def test_send_answers_the_message(mail: httpx.Client, admin: httpx.Client) -> None:
    response = send(mail, "welcome-APP-1")
    assert response.status_code == 201
    sent = response.json()
    assert set(sent) == {"id", "status", "to", "subject", "template", "tags", "sent_at"}
    assert sent["id"] == "M-000001"
    assert sent["status"] == "sent"
    assert sent["tags"] == {"business_key": "APP-1"}
    assert actions(admin, "mail") == ["sent"]


def test_a_retried_send_is_not_sent_twice(mail: httpx.Client, admin: httpx.Client) -> None:
    first = send(mail, "welcome-APP-1")
    retry = send(mail, "welcome-APP-1")
    assert retry.json() == first.json()
    assert len(mail.get("/mail/outbox").json()["messages"]) == 1
    assert actions(admin, "mail") == ["sent", "idempotent_replay"]


def test_outbox_filters(mail: httpx.Client) -> None:
    send(mail, "k1").raise_for_status()
    send(mail, "k2", to="ops@acme.example", template="dunning_1", tags={"business_key": "INV-7"})
    send(mail, "k3", template=None, tags={})
    everything = mail.get("/mail/outbox").json()["messages"]
    assert [sent["id"] for sent in everything] == ["M-000001", "M-000002", "M-000003"]
    assert everything[0]["body"] == "Your account is ready."

    def ids(**params: str) -> list[str]:
        return [sent["id"] for sent in mail.get("/mail/outbox", params=params).json()["messages"]]

    assert ids(to="ops@acme.example") == ["M-000002"]
    assert ids(template="vendor_welcome") == ["M-000001"]
    assert ids(business_key="INV-7") == ["M-000002"]
    assert ids(business_key="APP-1", to="ap@acme.example") == ["M-000001"]
    assert ids(business_key="nothing") == []


def test_bad_recipient_is_a_validation_error(mail: httpx.Client) -> None:
    response = send(mail, "k1", to="not-an-address")
    assert response.status_code == 422
    assert "body.to" in error_of(response)["message"]
