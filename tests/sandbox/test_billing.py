"""Billing: customers, invoices (tax, numbers, idempotency), finalize/void rules, payments."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.sandbox.conftest import BILLING_KEY, SandboxProcess, actions, client, error_of
from tests.sandbox.factories import customer, invoice, invoice_line

INVOICE_FIELDS = {
    "id",
    "number",
    "customer_id",
    "status",
    "currency",
    "lines",
    "subtotal_cents",
    "tax_cents",
    "total_cents",
    "amount_paid_cents",
    "amount_due_cents",
    "payment_terms",
    "due_date",
    "metadata",
    "payments",
    "created_at",
    "finalized_at",
    "paid_at",
    "voided_at",
}


def add_customer(billing: httpx.Client, **overrides: Any) -> dict[str, Any]:
    response = billing.post("/billing/customers", json=customer(**overrides))
    assert response.status_code == 201, response.text
    return dict(response.json())


def draft(
    billing: httpx.Client, number: str = "2026-0001", key: str | None = None, **overrides: Any
) -> httpx.Response:
    headers = {"Idempotency-Key": key or f"invoice-{number}"}
    return billing.post(
        "/billing/invoices", json=invoice(number=number, **overrides), headers=headers
    )


def open_invoice(billing: httpx.Client, number: str = "2026-0001", **overrides: Any) -> str:
    created = draft(billing, number, **overrides)
    assert created.status_code == 201, created.text
    invoice_id = str(created.json()["id"])
    billing.post(f"/billing/invoices/{invoice_id}/finalize").raise_for_status()
    return invoice_id


def pay(
    admin: httpx.Client, number: str, amount: int, payment_id: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"amount_cents": amount}
    if payment_id is not None:
        body["payment_id"] = payment_id
    return admin.post(f"/_admin/billing/invoices/{number}/payments", json=body)


def test_customers(billing: httpx.Client) -> None:
    created = add_customer(billing)
    assert created == {
        "id": "CUS-000001",
        "external_ref": "ACC-000001",
        "name": "Acme Components GmbH",
        "email": "billing@acme.example",
        "currency": "EUR",
        "created_at": created["created_at"],
    }
    add_customer(billing, external_ref="ACC-000002")
    assert billing.get("/billing/customers/CUS-000001").json() == created
    found = billing.get("/billing/customers", params={"external_ref": "ACC-000001"}).json()
    assert found == {"customers": [created]}
    assert len(billing.get("/billing/customers").json()["customers"]) == 2
    missing = billing.get("/billing/customers/CUS-999999")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "NOT_FOUND"


def test_customer_idempotency(billing: httpx.Client, admin: httpx.Client) -> None:
    headers = {"Idempotency-Key": "customer-ACC-000001"}
    first = billing.post("/billing/customers", json=customer(), headers=headers)
    retry = billing.post("/billing/customers", json=customer(), headers=headers)
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    other = billing.post("/billing/customers", json=customer(name="Other"), headers=headers)
    assert other.status_code == 409
    assert error_of(other)["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert actions(admin, "billing") == ["created", "idempotent_replay", "rejected"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (customer(currency="eur"), "body.currency"),
        (customer(email="nobody"), "body.email"),
        ({"name": "Acme", "email": "a@b.c", "currency": "EUR"}, "body.external_ref"),
    ],
)
def test_customer_validation(billing: httpx.Client, body: dict[str, Any], field: str) -> None:
    response = billing.post("/billing/customers", json=body)
    assert response.status_code == 422
    assert field in error_of(response)["message"]


def test_draft_invoice_totals(billing: httpx.Client, admin: httpx.Client) -> None:
    add_customer(billing)
    lines = [
        invoice_line(quantity=3, unit_price_cents=1999, tax_rate_bp=1900),
        invoice_line(description="Setup", quantity=1, unit_price_cents=5000, tax_rate_bp=0),
    ]
    response = draft(billing, lines=lines)
    assert response.status_code == 201
    created = response.json()
    assert set(created) == INVOICE_FIELDS
    assert created["id"] == "INV-000001"
    assert created["status"] == "draft"
    # 3 x 19.99 = 59.97; 19 % of it is 11.3943 -> 11.39.
    assert [(line["amount_cents"], line["tax_cents"]) for line in created["lines"]] == [
        (5997, 1139),
        (5000, 0),
    ]
    assert created["subtotal_cents"] == 10997
    assert created["tax_cents"] == 1139
    assert created["total_cents"] == 12136
    assert created["amount_paid_cents"] == 0
    assert created["amount_due_cents"] == 12136
    assert created["due_date"] == "2026-12-31"
    assert created["payment_terms"] == "net30"
    assert created["metadata"] == {"business_key": "invoice-2026-0001"}
    assert created["payments"] == []
    assert billing.get("/billing/invoices/INV-000001").json() == created
    assert actions(admin, "billing") == ["created", "created"]


@pytest.mark.parametrize(
    ("quantity", "unit_price_cents", "tax_rate_bp", "tax_cents"),
    [
        (1, 50, 1000, 5),  # 5.0 exactly
        (1, 25, 1000, 2),  # 2.5 -> 2 (to even)
        (1, 35, 1000, 4),  # 3.5 -> 4 (to even)
        (1, 45, 1000, 4),  # 4.5 -> 4
        (3, 5, 1000, 2),  # 1.5 -> 2
        (1, 250, 500, 12),  # 12.5 -> 12
        (1, 270, 500, 14),  # 13.5 -> 14
        (1, 1, 5000, 0),  # 0.5 -> 0
        (1, 3, 5000, 2),  # 1.5 -> 2
        (7, 13, 1900, 17),  # 17.29 -> 17
        (1, 10, 10_000, 10),  # 100 %
    ],
)
def test_tax_rounds_half_even_per_line(
    billing: httpx.Client, quantity: int, unit_price_cents: int, tax_rate_bp: int, tax_cents: int
) -> None:
    add_customer(billing)
    line = invoice_line(
        quantity=quantity, unit_price_cents=unit_price_cents, tax_rate_bp=tax_rate_bp
    )
    created = draft(billing, lines=[line]).json()
    assert created["lines"][0]["tax_cents"] == tax_cents
    assert created["total_cents"] == quantity * unit_price_cents + tax_cents


def test_tax_is_rounded_per_line_not_on_the_sum(billing: httpx.Client) -> None:
    add_customer(billing)
    # Each line's tax is 2.5 cents -> 2; rounding the sum (5.0) would give 5.
    lines = [invoice_line(quantity=1, unit_price_cents=25, tax_rate_bp=1000)] * 2
    created = draft(billing, lines=lines).json()
    assert created["tax_cents"] == 4
    assert created["total_cents"] == 54


def test_invoices_require_an_idempotency_key(billing: httpx.Client, admin: httpx.Client) -> None:
    add_customer(billing)
    response = billing.post("/billing/invoices", json=invoice())
    assert response.status_code == 422
    assert error_of(response)["code"] == "IDEMPOTENCY_KEY_REQUIRED"
    assert billing.get("/billing/invoices").json() == {"invoices": []}


def test_invoice_idempotency(billing: httpx.Client, admin: httpx.Client) -> None:
    add_customer(billing)
    first = draft(billing, key="k-1")
    retry = draft(billing, key="k-1")
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    changed = draft(billing, key="k-1", lines=[invoice_line(quantity=5)])
    assert changed.status_code == 409
    assert error_of(changed)["code"] == "IDEMPOTENCY_KEY_REUSED"
    duplicate = draft(billing, key="k-2")
    assert duplicate.status_code == 422
    error = error_of(duplicate)
    assert error["code"] == "DUPLICATE_INVOICE_NUMBER"
    assert "INV-000001" in error["message"]
    assert len(billing.get("/billing/invoices").json()["invoices"]) == 1
    assert actions(admin, "billing")[1:] == ["created", "idempotent_replay", "rejected", "rejected"]


def test_a_void_invoice_keeps_its_number(billing: httpx.Client) -> None:
    add_customer(billing)
    invoice_id = draft(billing).json()["id"]
    billing.post(f"/billing/invoices/{invoice_id}/void").raise_for_status()
    again = draft(billing, key="another-key")
    assert error_of(again)["code"] == "DUPLICATE_INVOICE_NUMBER"


def test_invoice_rules(billing: httpx.Client) -> None:
    missing = draft(billing)
    assert missing.status_code == 404
    assert "CUS-000001" in error_of(missing)["message"]
    add_customer(billing)
    mismatch = draft(billing, currency="USD")
    assert mismatch.status_code == 422
    assert error_of(mismatch)["code"] == "CURRENCY_MISMATCH"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lines": []}, "body.lines"),
        ({"lines": [invoice_line(quantity=0)]}, "body.lines[0].quantity"),
        ({"lines": [invoice_line(unit_price_cents=-1)]}, "body.lines[0].unit_price_cents"),
        ({"lines": [invoice_line(tax_rate_bp=1.5)]}, "body.lines[0].tax_rate_bp"),
        ({"lines": [invoice_line(quantity="2")]}, "body.lines[0].quantity"),
        ({"lines": [invoice_line(unit_price_cents=10.0)]}, "body.lines[0].unit_price_cents"),
        ({"due_date": "31/12/2026"}, "body.due_date"),
        ({"metadata": {"key": 5}}, "body.metadata.key"),
        ({"number": "no spaces"}, "body.number"),
    ],
)
def test_invoice_validation(billing: httpx.Client, overrides: dict[str, Any], field: str) -> None:
    add_customer(billing)
    response = draft(billing, **overrides)
    assert response.status_code == 422, response.text
    assert field in error_of(response)["message"]


def test_invoice_lookups(billing: httpx.Client) -> None:
    add_customer(billing)
    add_customer(billing, external_ref="ACC-000002")
    open_invoice(billing, "A-1")
    draft(billing, "A-2").raise_for_status()
    draft(billing, "B-1", customer_id="CUS-000002").raise_for_status()

    def numbers(**params: str) -> list[str]:
        found = billing.get("/billing/invoices", params=params).json()["invoices"]
        return [found_invoice["number"] for found_invoice in found]

    assert numbers() == ["A-1", "A-2", "B-1"]
    assert numbers(number="A-2") == ["A-2"]
    assert numbers(customer_id="CUS-000001") == ["A-1", "A-2"]
    assert numbers(status="open") == ["A-1"]
    assert numbers(status="draft", customer_id="CUS-000002") == ["B-1"]
    assert numbers(number="nothing") == []
    assert billing.get("/billing/invoices/INV-999999").status_code == 404


def test_finalize(billing: httpx.Client, admin: httpx.Client) -> None:
    add_customer(billing)
    invoice_id = draft(billing).json()["id"]
    first = billing.post(f"/billing/invoices/{invoice_id}/finalize")
    again = billing.post(f"/billing/invoices/{invoice_id}/finalize")
    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == "open"
    assert first.json()["finalized_at"] is not None
    assert again.json() == first.json()
    assert actions(admin, "billing")[-1] == "finalized"
    assert actions(admin, "billing").count("finalized") == 1


def test_finalize_refuses_void_and_paid(billing: httpx.Client, admin: httpx.Client) -> None:
    add_customer(billing)
    voided = draft(billing, "V-1").json()["id"]
    billing.post(f"/billing/invoices/{voided}/void").raise_for_status()
    paid = open_invoice(billing, "P-1")
    pay(admin, "P-1", 2380).raise_for_status()
    for invoice_id in (voided, paid):
        response = billing.post(f"/billing/invoices/{invoice_id}/finalize")
        assert response.status_code == 422
        assert error_of(response)["code"] == "INVALID_STATE"
    assert billing.post("/billing/invoices/INV-999999/finalize").status_code == 404


def test_void_rules(billing: httpx.Client, admin: httpx.Client) -> None:
    add_customer(billing)
    from_draft = draft(billing, "D-1").json()["id"]
    from_open = open_invoice(billing, "O-1")
    for invoice_id in (from_draft, from_open):
        first = billing.post(f"/billing/invoices/{invoice_id}/void")
        again = billing.post(f"/billing/invoices/{invoice_id}/void")
        assert first.json()["status"] == again.json()["status"] == "void"
        assert first.json()["voided_at"] is not None
    partly = open_invoice(billing, "PP-1")
    pay(admin, "PP-1", 100).raise_for_status()
    fully = open_invoice(billing, "FP-1")
    pay(admin, "FP-1", 2380).raise_for_status()
    for invoice_id in (partly, fully):
        response = billing.post(f"/billing/invoices/{invoice_id}/void")
        assert response.status_code == 422
        assert error_of(response)["code"] == "INVOICE_PAID"
    assert billing.get(f"/billing/invoices/{partly}").json()["status"] == "open"
    assert actions(admin, "billing").count("voided") == 2


def test_partial_then_full_payment(billing: httpx.Client, admin: httpx.Client) -> None:
    add_customer(billing)
    invoice_id = open_invoice(billing)  # total 2380
    first = pay(admin, "2026-0001", 1000, "bank-1")
    assert first.status_code == 201, first.text
    assert first.json()["payment"] == {
        "id": "PAY-000001",
        "payment_id": "bank-1",
        "invoice_id": invoice_id,
        "amount_cents": 1000,
        "currency": "EUR",
        "received_at": first.json()["payment"]["received_at"],
    }
    partial = first.json()["invoice"]
    assert (partial["status"], partial["amount_paid_cents"], partial["amount_due_cents"]) == (
        "open",
        1000,
        1380,
    )
    second = pay(admin, "2026-0001", 1380)
    assert second.status_code == 201
    assert second.json()["payment"]["payment_id"] == "PAY-000002"
    paid = billing.get(f"/billing/invoices/{invoice_id}").json()
    assert paid == second.json()["invoice"]
    assert (paid["status"], paid["amount_paid_cents"], paid["amount_due_cents"]) == (
        "paid",
        2380,
        0,
    )
    assert paid["paid_at"] is not None
    assert [(p["payment_id"], p["amount_cents"]) for p in paid["payments"]] == [
        ("bank-1", 1000),
        ("PAY-000002", 1380),
    ]

    events = admin.get("/_admin/webhooks/events", params={"type": "invoice.paid"}).json()["events"]
    assert [event["data"] for event in events] == [
        {
            "invoice_id": invoice_id,
            "number": "2026-0001",
            "customer_id": "CUS-000001",
            "payment_id": "bank-1",
            "amount_cents": 1000,
            "amount_paid_cents": 1000,
            "amount_due_cents": 1380,
            "status": "open",
            "currency": "EUR",
            "metadata": {"business_key": "invoice-2026-0001"},
        },
        {
            "invoice_id": invoice_id,
            "number": "2026-0001",
            "customer_id": "CUS-000001",
            "payment_id": "PAY-000002",
            "amount_cents": 1380,
            "amount_paid_cents": 2380,
            "amount_due_cents": 0,
            "status": "paid",
            "currency": "EUR",
            "metadata": {"business_key": "invoice-2026-0001"},
        },
    ]
    assert all(event["system"] == "billing" for event in events)
    # The second payment: its record, the invoice's change, the invoice paid, the event.
    assert actions(admin, "billing")[-4:] == [
        "created",
        "payment_applied",
        "paid",
        "webhook_emitted",
    ]


def test_a_repeated_payment_id_records_nothing_new(
    billing: httpx.Client, admin: httpx.Client
) -> None:
    add_customer(billing)
    open_invoice(billing)
    first = pay(admin, "2026-0001", 500, "bank-1")
    before = actions(admin, "billing")
    again = pay(admin, "2026-0001", 500, "bank-1")
    assert again.status_code == 200
    assert again.json() == first.json()
    assert actions(admin, "billing") == before
    assert billing.get("/billing/invoices/INV-000001").json()["amount_paid_cents"] == 500
    events = admin.get("/_admin/webhooks/events").json()["events"]
    assert len(events) == 1
    other_amount = pay(admin, "2026-0001", 700, "bank-1")
    assert other_amount.status_code == 422
    assert error_of(other_amount)["code"] == "DUPLICATE_PAYMENT_ID"


def test_repeating_the_final_payment_after_paid_returns_it(
    billing: httpx.Client, admin: httpx.Client
) -> None:
    add_customer(billing)
    open_invoice(billing)
    first = pay(admin, "2026-0001", 2380, "bank-9")
    again = pay(admin, "2026-0001", 2380, "bank-9")
    assert again.status_code == 200
    assert again.json()["payment"] == first.json()["payment"]
    assert again.json()["invoice"]["status"] == "paid"


def test_payment_rules(billing: httpx.Client, admin: httpx.Client) -> None:
    add_customer(billing)
    draft(billing, "D-1").raise_for_status()
    not_open = pay(admin, "D-1", 100)
    assert not_open.status_code == 422
    assert error_of(not_open)["code"] == "INVALID_STATE"
    open_invoice(billing, "O-1")
    too_much = pay(admin, "O-1", 2381)
    assert too_much.status_code == 422
    assert error_of(too_much)["code"] == "OVERPAYMENT"
    pay(admin, "O-1", 2000).raise_for_status()
    assert error_of(pay(admin, "O-1", 381))["code"] == "OVERPAYMENT"
    pay(admin, "O-1", 380).raise_for_status()
    assert error_of(pay(admin, "O-1", 1))["code"] == "INVALID_STATE"
    unknown = pay(admin, "NOPE-1", 100)
    assert unknown.status_code == 404
    for amount in (0, -5):
        assert pay(admin, "O-1", amount).status_code == 422


def test_payments_need_the_admin_token(sandbox: Any, billing: httpx.Client) -> None:
    add_customer(billing)
    open_invoice(billing)
    # The billing API key is not enough: payments come from the customer's side.
    response = billing.post("/_admin/billing/invoices/2026-0001/payments", json={"amount_cents": 1})
    assert response.status_code == 401


def test_concurrent_invoice_retries_create_one_invoice(
    sandbox: SandboxProcess, billing: httpx.Client, admin: httpx.Client
) -> None:
    add_customer(billing)

    def attempt(_: int) -> httpx.Response:
        with client(sandbox.base_url, headers={"Authorization": f"Bearer {BILLING_KEY}"}) as other:
            return draft(other, key="race")

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(attempt, range(6)))
    assert {response.status_code for response in responses} == {201}
    assert {response.json()["id"] for response in responses} == {"INV-000001"}
    assert sorted(actions(admin, "billing")) == ["created"] * 2 + ["idempotent_replay"] * 5
