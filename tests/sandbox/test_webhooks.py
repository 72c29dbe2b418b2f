"""Signed webhooks: targets, signatures, background delivery, retries, redelivery, records."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.sandbox.conftest import actions, error_of, events
from tests.sandbox.factories import envelope
from tests.sandbox.receiver import WebhookReceiver, signature_ok

SECRET = "whsec-test-secret"


def set_target(admin: httpx.Client, system: str, url: str, **extra: object) -> dict[str, Any]:
    response = admin.put(f"/_admin/webhooks/{system}", json={"url": url, "secret": SECRET, **extra})
    assert response.status_code == 200, response.text
    return dict(response.json())


def complete_envelope(esign: httpx.Client, admin: httpx.Client, external_ref: str = "D-1") -> str:
    created = esign.post("/esign/envelopes", json=envelope(external_ref)).json()
    admin.post(f"/_admin/esign/envelopes/{created['id']}/sign").raise_for_status()
    return str(created["id"])


def emitted(admin: httpx.Client, **params: str) -> list[dict[str, Any]]:
    response = admin.get("/_admin/webhooks/events", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


def deliveries(admin: httpx.Client, **params: str) -> list[dict[str, Any]]:
    response = admin.get("/_admin/webhooks/deliveries", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["deliveries"])


def wait_until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_targets_are_listed_without_secrets(admin: httpx.Client) -> None:
    shown = set_target(admin, "billing", "http://127.0.0.1:9/hooks", max_attempts=3)
    assert shown == {
        "system": "billing",
        "url": "http://127.0.0.1:9/hooks",
        "max_attempts": 3,
        "timeout_seconds": 10.0,
        "updated_at": shown["updated_at"],
    }
    listed = admin.get("/_admin/webhooks").json()
    assert listed == {"targets": [shown]}
    assert SECRET not in str(listed)
    assert admin.delete("/_admin/webhooks/billing").json() == {"system": "billing", "deleted": True}
    assert admin.get("/_admin/webhooks").json() == {"targets": []}


@pytest.mark.parametrize(
    ("system", "body", "field"),
    [
        ("erp", {"url": "http://127.0.0.1:9", "secret": "s"}, "system"),
        ("nowhere", {"url": "http://127.0.0.1:9", "secret": "s"}, "system"),
        ("crm", {"url": "ftp://127.0.0.1:9", "secret": "s"}, "body.url"),
        ("crm", {"url": "http://127.0.0.1:9", "secret": ""}, "body.secret"),
        ("crm", {"url": "http://127.0.0.1:9"}, "body.secret"),
        ("crm", {"url": "http://127.0.0.1:9", "secret": "s", "max_attempts": 0}, "max_attempts"),
        ("crm", {"url": "http://127.0.0.1:9", "secret": "s", "retries": 3}, "body.retries"),
    ],
)
def test_bad_targets_are_refused(
    admin: httpx.Client, system: str, body: dict[str, object], field: str
) -> None:
    response = admin.put(f"/_admin/webhooks/{system}", json=body)
    assert response.status_code == 422
    assert field in error_of(response)["message"]


def test_webhook_admin_needs_the_admin_token(sandbox: Any, admin: httpx.Client) -> None:
    with httpx.Client(base_url=sandbox.base_url) as outsider:
        for method, path in [
            ("GET", "/_admin/webhooks"),
            ("PUT", "/_admin/webhooks/crm"),
            ("GET", "/_admin/webhooks/events"),
            ("GET", "/_admin/webhooks/deliveries"),
            ("POST", "/_admin/webhooks/events/evt_x/redeliver"),
        ]:
            response = outsider.request(method, path, json={"url": "http://x.test", "secret": "s"})
            assert response.status_code == 401, path


def test_an_event_is_delivered_signed(
    admin: httpx.Client, esign: httpx.Client, receiver: WebhookReceiver
) -> None:
    set_target(admin, "esign", receiver.url)
    envelope_id = complete_envelope(esign, admin)
    [delivery] = receiver.wait_for(1)
    assert delivery.path == "/hooks"
    assert delivery.headers["content-type"] == "application/json"
    assert signature_ok(delivery, SECRET)
    assert not signature_ok(delivery, "another-secret")
    event = delivery.event
    assert set(event) == {"id", "type", "created", "system", "data"}
    assert event["id"].startswith("evt_")
    assert event["type"] == "envelope.completed"
    assert event["system"] == "esign"
    assert abs(event["created"] - time.time()) < 60
    assert event["data"]["envelope_id"] == envelope_id
    assert delivery.headers["webhook-id"] == event["id"]

    wait_until(lambda: emitted(admin)[0]["delivery_status"] == "delivered")
    [stored] = emitted(admin)
    assert {name: stored[name] for name in event} == event
    assert stored["attempts"] == 1
    assert stored["record_id"] == envelope_id
    [attempt] = deliveries(admin)
    assert attempt == {
        "event_id": event["id"],
        "system": "esign",
        "type": "envelope.completed",
        "attempt": 1,
        "redelivery": False,
        "status": 200,
        "error": None,
        "at": attempt["at"],
    }
    ledger = [e for e in events(admin, "esign") if e["action"].startswith("webhook_")]
    assert [(e["action"], e["detail"]["event_id"]) for e in ledger] == [
        ("webhook_emitted", event["id"]),
        ("webhook_sent", event["id"]),
    ]
    assert ledger[1]["detail"]["status"] == 200


def test_failed_attempts_are_retried_with_backoff(
    admin: httpx.Client, esign: httpx.Client, receiver: WebhookReceiver
) -> None:
    receiver.answer(500, 500)
    set_target(admin, "esign", receiver.url)
    complete_envelope(esign, admin)
    first, second, third = receiver.wait_for(3)
    assert [d.answered for d in (first, second, third)] == [500, 500, 200]
    assert first.event == second.event == third.event
    assert all(signature_ok(d, SECRET) for d in (first, second, third))
    # Backoff 0.5 s, then 1 s: never sooner (later is the machine's business, not asserted).
    assert second.at - first.at >= 0.4
    assert third.at - second.at >= 0.9
    wait_until(lambda: len(deliveries(admin)) == 3)
    assert [(d["attempt"], d["status"]) for d in deliveries(admin)] == [
        (1, 500),
        (2, 500),
        (3, 200),
    ]
    assert deliveries(admin)[0]["error"] == "the receiver answered HTTP 500"
    wait_until(lambda: emitted(admin)[0]["delivery_status"] == "delivered")
    assert emitted(admin)[0]["attempts"] == 3


def test_attempts_stop_at_max_attempts(admin: httpx.Client, esign: httpx.Client) -> None:
    with WebhookReceiver([503, 503, 503]) as failing:
        set_target(admin, "esign", failing.url, max_attempts=2)
        complete_envelope(esign, admin)
        failing.wait_for(2)
        wait_until(lambda: emitted(admin)[0]["delivery_status"] == "failed")
        time.sleep(1.5)  # no third attempt comes
        assert len(failing.deliveries) == 2
    [event] = emitted(admin)
    assert event["attempts"] == 2
    assert "webhook_failed" in actions(admin, "esign")


def test_connection_errors_are_recorded_and_retried(
    admin: httpx.Client, esign: httpx.Client
) -> None:
    with WebhookReceiver() as gone:
        url = gone.url
    set_target(admin, "esign", url, max_attempts=2)
    complete_envelope(esign, admin)
    wait_until(lambda: emitted(admin)[0]["delivery_status"] == "failed")
    attempts = deliveries(admin)
    assert [d["attempt"] for d in attempts] == [1, 2]
    assert all(d["status"] is None and d["error"] for d in attempts)


def test_redelivery_keeps_the_event_id_and_signs_afresh(
    admin: httpx.Client, esign: httpx.Client, receiver: WebhookReceiver
) -> None:
    set_target(admin, "esign", receiver.url)
    complete_envelope(esign, admin)
    receiver.wait_for(1)
    [event] = emitted(admin, system="esign", type="envelope.completed")
    for _ in range(2):
        time.sleep(1.05)  # a new second, so a new signature timestamp
        response = admin.post(f"/_admin/webhooks/events/{event['id']}/redeliver")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == 200
        assert response.json()["redelivery"] is True
    sent = receiver.wait_for(3)
    assert {d.event["id"] for d in sent} == {event["id"]}
    assert len({d.body for d in sent}) == 1
    assert len({d.headers["webhook-signature"] for d in sent}) == 3
    assert all(signature_ok(d, SECRET) for d in sent)
    assert [d["attempt"] for d in deliveries(admin, event_id=event["id"])] == [1, 2, 3]


def test_redelivery_reports_a_failing_receiver(
    admin: httpx.Client, esign: httpx.Client, receiver: WebhookReceiver
) -> None:
    set_target(admin, "esign", receiver.url)
    complete_envelope(esign, admin)
    receiver.wait_for(1)
    [event] = emitted(admin)
    receiver.answer(502)
    response = admin.post(f"/_admin/webhooks/events/{event['id']}/redeliver")
    assert response.status_code == 200
    assert response.json()["status"] == 502
    assert response.json()["error"] == "the receiver answered HTTP 502"


def test_redelivery_errors(admin: httpx.Client, esign: httpx.Client) -> None:
    missing = admin.post("/_admin/webhooks/events/evt_nope/redeliver")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "NOT_FOUND"
    complete_envelope(esign, admin)
    [event] = emitted(admin)
    no_target = admin.post(f"/_admin/webhooks/events/{event['id']}/redeliver")
    assert no_target.status_code == 422
    assert error_of(no_target)["code"] == "NO_WEBHOOK_TARGET"


def test_events_without_a_target_are_kept_undelivered(
    admin: httpx.Client, esign: httpx.Client, receiver: WebhookReceiver
) -> None:
    complete_envelope(esign, admin)
    [event] = emitted(admin)
    assert event["delivery_status"] == "no_target"
    assert event["attempts"] == 0
    assert deliveries(admin) == []
    # Once a target exists, the event can still be sent by hand.
    set_target(admin, "esign", receiver.url)
    admin.post(f"/_admin/webhooks/events/{event['id']}/redeliver").raise_for_status()
    assert receiver.wait_for(1)[0].event["id"] == event["id"]
    assert admin.get(f"/_admin/webhooks/events/{event['id']}").json()["delivery_status"] == (
        "delivered"
    )


def test_delivery_does_not_hold_up_the_request(admin: httpx.Client, esign: httpx.Client) -> None:
    with WebhookReceiver(held=True) as held:
        set_target(admin, "esign", held.url)
        created = esign.post("/esign/envelopes", json=envelope()).json()
        # The receiver holds every delivery until released: the answer comes first.
        signed = admin.post(f"/_admin/esign/envelopes/{created['id']}/sign")
        assert signed.status_code == 200
        assert emitted(admin)[0]["delivery_status"] == "pending"
        assert held.deliveries == []
        held.release()
        wait_until(lambda: emitted(admin)[0]["delivery_status"] == "delivered")


def test_events_and_deliveries_filter(
    admin: httpx.Client, esign: httpx.Client, receiver: WebhookReceiver
) -> None:
    set_target(admin, "esign", receiver.url)
    complete_envelope(esign, admin, "D-1")
    complete_envelope(esign, admin, "D-2")
    receiver.wait_for(2)
    both = emitted(admin, system="esign")
    assert [e["data"]["external_ref"] for e in both] == ["D-1", "D-2"]
    assert emitted(admin, type="deal.stage_changed") == []
    assert emitted(admin, system="crm") == []
    wait_until(lambda: len(deliveries(admin)) == 2)
    assert [d["event_id"] for d in deliveries(admin, event_id=both[1]["id"])] == [both[1]["id"]]
    assert deliveries(admin, system="billing") == []
    assert admin.get("/_admin/webhooks/events", params={"system": "erp"}).status_code == 422
    assert admin.get("/_admin/webhooks/events/evt_nope").status_code == 404


def test_reset_forgets_events_but_keeps_targets(
    admin: httpx.Client, esign: httpx.Client, receiver: WebhookReceiver
) -> None:
    set_target(admin, "esign", receiver.url)
    complete_envelope(esign, admin)
    receiver.wait_for(1)
    admin.post("/_admin/reset").raise_for_status()
    assert emitted(admin) == []
    assert deliveries(admin) == []
    assert [t["system"] for t in admin.get("/_admin/webhooks").json()["targets"]] == ["esign"]
