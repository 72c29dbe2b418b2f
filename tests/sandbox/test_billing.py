"""Billing: the sandbox's emulation of Stripe (customers, tax rates, invoice items, invoices,
search, list pages, statuses, errors, idempotency, payments and their signed events)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.sandbox.conftest import BILLING_KEY, SandboxProcess, actions, client
from tests.sandbox.receiver import WebhookReceiver, signature_ok

V1 = "/billing/v1"


def post(
    billing: httpx.Client, path: str, data: dict[str, Any], key: str | None = None
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return billing.post(f"{V1}{path}", data=data, headers=headers)


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json())


def stripe_error(response: httpx.Response) -> dict[str, str]:
    return dict(response.json()["error"])


def add_customer(billing: httpx.Client, account: str = "ACC-1") -> str:
    body = {"name": "Acme GmbH", "email": "ap@acme.example", "metadata[crm_account_id]": account}
    return str(created(post(billing, "/customers", body))["id"])


def add_draft(billing: httpx.Client, customer: str, number: str, key: str | None = None) -> str:
    body = {
        "customer": customer,
        "currency": "eur",
        "collection_method": "send_invoice",
        "days_until_due": "30",
        "auto_advance": "false",
        "metadata[invoice_number]": number,
    }
    return str(created(post(billing, "/invoices", body, key))["id"])


def add_line(
    billing: httpx.Client, customer: str, invoice: str, cents: int, rate: str | None = None
) -> None:
    body = {
        "customer": customer,
        "invoice": invoice,
        "unit_amount_decimal": str(cents),
        "quantity": "1",
    }
    if rate:
        body["tax_rates[0]"] = rate
    created(post(billing, "/invoiceitems", body))


def open_invoice(billing: httpx.Client, number: str = "INV-1", cents: int = 2000) -> str:
    customer = add_customer(billing)
    invoice = add_draft(billing, customer, number)
    add_line(billing, customer, invoice, cents)
    created(post(billing, f"/invoices/{invoice}/finalize", {}))
    return invoice


def test_customers_are_found_by_metadata(billing: httpx.Client) -> None:
    customer = add_customer(billing, "ACC-7")
    assert customer.startswith("cus_")
    found = billing.get(
        f"{V1}/customers/search", params={"query": "metadata['crm_account_id']:'ACC-7'"}
    )
    assert [c["id"] for c in found.json()["data"]] == [customer]
    none = billing.get(
        f"{V1}/customers/search", params={"query": "metadata['crm_account_id']:'ACC-8'"}
    )
    assert none.json()["data"] == []
    bad = billing.get(f"{V1}/customers/search", params={"query": "email:'x'"})
    assert bad.status_code == 400
    assert (
        stripe_error(bad)["type"] == "invalid_request_error"
        and stripe_error(bad)["param"] == "query"
    )


def test_a_repeated_key_answers_the_first_create_and_another_body_is_an_idempotency_error(
    billing: httpx.Client, admin: httpx.Client
) -> None:
    body = {"name": "Acme", "email": "ap@acme.example", "metadata[crm_account_id]": "ACC-1"}
    first = post(billing, "/customers", body, key="k-1")
    again = post(billing, "/customers", body, key="k-1")
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = post(billing, "/customers", {**body, "name": "Other"}, key="k-1")
    assert other.status_code == 400 and stripe_error(other)["type"] == "idempotency_error"
    assert actions(admin, "billing").count("created") == 1


def test_tax_is_per_line_half_even_and_totals_add_up(billing: httpx.Client) -> None:
    rate = created(
        post(
            billing,
            "/tax_rates",
            {"display_name": "Tax", "percentage": "10.00", "inclusive": "false"},
        )
    )["id"]
    assert rate.startswith("txr_")
    customer = add_customer(billing)
    invoice = add_draft(billing, customer, "INV-TAX")
    assert invoice.startswith("in_")
    for cents in (5, 15, 1000):  # tax 0.5 -> 0, 1.5 -> 2, 100
        add_line(billing, customer, invoice, cents, rate)
    got = billing.get(f"{V1}/invoices/{invoice}").json()
    assert (got["subtotal"], sum(t["amount"] for t in got["total_taxes"]), got["total"]) == (
        1020,
        102,
        1122,
    )
    assert got["status"] == "draft" and got["metadata"] == {"invoice_number": "INV-TAX"}


def test_statuses_finalize_void_delete(billing: httpx.Client) -> None:
    customer = add_customer(billing)
    draft = add_draft(billing, customer, "INV-D")
    empty = post(billing, f"/invoices/{draft}/finalize", {})
    assert stripe_error(empty)["code"] == "invoice_no_line_items"
    assert (
        stripe_error(post(billing, f"/invoices/{draft}/void", {}))["code"] == "invoice_not_editable"
    )
    assert billing.delete(f"{V1}/invoices/{draft}").json() == {
        "id": draft,
        "object": "invoice",
        "deleted": True,
    }
    gone = billing.get(f"{V1}/invoices/{draft}")
    assert gone.status_code == 404 and stripe_error(gone)["code"] == "resource_missing"

    invoice = open_invoice(billing, "INV-O")
    opened = billing.get(f"{V1}/invoices/{invoice}").json()
    assert opened["status"] == "open" and opened["status_transitions"]["finalized_at"]
    again = post(billing, f"/invoices/{invoice}/finalize", {})
    assert again.status_code == 400 and stripe_error(again)["code"] == "invoice_not_editable"
    assert billing.delete(f"{V1}/invoices/{invoice}").status_code == 400
    voided = created(post(billing, f"/invoices/{invoice}/void", {}))
    assert voided["status"] == "void" and voided["amount_remaining"] == 0


def test_list_pages_with_a_cursor_newest_first(billing: httpx.Client) -> None:
    customer = add_customer(billing)
    ids = [add_draft(billing, customer, f"INV-{n}") for n in range(3)]
    first = billing.get(f"{V1}/invoices", params={"limit": 2}).json()
    assert [i["id"] for i in first["data"]] == ids[:0:-1] and first["has_more"]
    rest = billing.get(f"{V1}/invoices", params={"limit": 2, "starting_after": ids[1]}).json()
    assert [i["id"] for i in rest["data"]] == [ids[0]] and not rest["has_more"]
    assert billing.get(f"{V1}/invoices", params={"status": "open"}).json()["data"] == []
    future = billing.get(f"{V1}/invoices", params={"created[gte]": 4_000_000_000}).json()
    assert future["data"] == []
    too_many = billing.get(f"{V1}/invoices", params={"limit": 101})
    assert stripe_error(too_many)["param"] == "limit"


def test_a_long_list_pages_through_every_invoice_once(billing: httpx.Client) -> None:
    """250 invoices of one customer, 100 a page (read by index, page by page, in the sandbox)."""
    customer = add_customer(billing)
    ids = [add_draft(billing, customer, f"INV-L{n}") for n in range(250)]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 100, "customer": customer}
    while True:
        listed = billing.get(f"{V1}/invoices", params=params).json()
        seen += [i["id"] for i in listed["data"]]
        if not listed["has_more"]:
            break
        params = {**params, "starting_after": seen[-1]}
    assert seen == ids[::-1]


def test_created_filters_compare_whole_seconds(billing: httpx.Client) -> None:
    customer = add_customer(billing)
    invoice = billing.get(f"{V1}/invoices/{add_draft(billing, customer, 'INV-T')}").json()
    at = invoice["created"]

    def listed(op: str, moment: int) -> bool:
        params: dict[str, Any] = {"customer": customer, f"created[{op}]": moment}
        answer = billing.get(f"{V1}/invoices", params=params).json()
        return invoice["id"] in [i["id"] for i in answer["data"]]

    assert listed("gte", at) and listed("lte", at) and listed("gt", at - 1) and listed("lt", at + 1)
    assert not listed("gt", at) and not listed("lt", at)
    exact = billing.get(f"{V1}/invoices", params={"customer": customer, "created": at}).json()
    assert [i["id"] for i in exact["data"]] == [invoice["id"]]


def test_refusals_name_the_param(billing: httpx.Client, admin: httpx.Client) -> None:
    missing = post(billing, "/invoices", {"currency": "eur"})
    assert missing.status_code == 400
    assert stripe_error(missing) == {
        "type": "invalid_request_error",
        "code": "parameter_missing",
        "param": "customer",
        "message": "Missing required param: customer.",
    }
    unknown = post(
        billing,
        "/invoices",
        {"customer": "cus_nope", "days_until_due": "1", "collection_method": "send_invoice"},
    )
    assert unknown.status_code == 404 and stripe_error(unknown)["code"] == "resource_missing"
    assert (
        billing.get(f"{V1}/invoices", headers={"Authorization": "Bearer wrong"}).status_code == 401
    )
    admin.put("/_admin/faults/billing", json={"status": 429, "retry_after": 2}).raise_for_status()
    limited = billing.get(f"{V1}/invoices")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert stripe_error(limited)["type"] == "rate_limit_error"
    admin.put("/_admin/faults/billing", json={"status": 500}).raise_for_status()
    assert stripe_error(billing.get(f"{V1}/invoices"))["type"] == "api_error"
    admin.delete("/_admin/faults").raise_for_status()


def test_payments_emit_stripe_events(billing: httpx.Client, admin: httpx.Client) -> None:
    invoice = open_invoice(billing, "INV-P", cents=2000)
    assert (
        admin.post(
            "/_admin/billing/invoices/INV-P/payments", json={"amount_cents": 500}
        ).status_code
        == 201
    )
    assert (
        admin.post(
            "/_admin/billing/invoices/INV-P/payments", json={"amount_cents": 1500}
        ).status_code
        == 201
    )
    listed = admin.get("/_admin/webhooks/events", params={"system": "billing"}).json()["events"]
    assert [e["type"] for e in listed] == ["invoice.updated", "invoice.updated", "invoice.paid"]
    first, second, paid = listed
    assert first["object"] == "event" and first["data"]["object"]["id"] == invoice
    assert (
        first["data"]["previous_attributes"]["amount_paid"],
        first["data"]["object"]["amount_paid"],
    ) == (0, 500)
    assert second["data"]["object"]["status"] == "paid"
    assert (
        paid["data"]["object"]["amount_paid"] == 2000 and "previous_attributes" not in paid["data"]
    )
    assert paid["data"]["object"]["metadata"]["invoice_number"] == "INV-P"


def test_concurrent_retries_of_one_create_make_one_invoice(
    sandbox: SandboxProcess, billing: httpx.Client, admin: httpx.Client
) -> None:
    customer = add_customer(billing)

    def attempt(_: int) -> str:
        with client(sandbox.base_url, headers={"Authorization": f"Bearer {BILLING_KEY}"}) as other:
            return add_draft(other, customer, "INV-RACE", key="race")

    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = set(pool.map(attempt, range(6)))
    assert len(ids) == 1
    assert (
        sorted(a for a in actions(admin, "billing") if a in ("created", "idempotent_replay"))
        == ["created"] * 2 + ["idempotent_replay"] * 5
    )


def test_events_are_delivered_signed_under_stripe_signature(
    billing: httpx.Client, admin: httpx.Client, receiver: WebhookReceiver
) -> None:
    target = {"url": receiver.url, "secret": "whsec_test"}
    admin.put("/_admin/webhooks/billing", json=target).raise_for_status()
    open_invoice(billing, "INV-S", cents=700)
    admin.post("/_admin/billing/invoices/INV-S/payments", json={"amount_cents": 700})
    sent = receiver.wait_for(2)
    assert sorted(d.event["type"] for d in sent) == ["invoice.paid", "invoice.updated"]
    assert all(
        "stripe-signature" in d.headers and "webhook-signature" not in d.headers for d in sent
    )
    assert all(signature_ok(d, "whsec_test") and not signature_ok(d, "other") for d in sent)
