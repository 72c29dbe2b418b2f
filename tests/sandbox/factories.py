"""Request bodies for the sandbox tests, valid unless a test overrides a field."""

from __future__ import annotations

from typing import Any


def vendor(external_ref: str = "APP-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_ref": external_ref,
        "legal_name": "Acme Components GmbH",
        "tax_id": "DE123456789",
        "country": "DE",
        "vendor_type": "supplier",
        "payment_terms": "net30",
        "contact_email": "ap@acme.example",
        "bank_account": {"iban": "DE89370400440532013000", "bic": "COBADEFFXXX"},
    }
    return {**body, **overrides}


def vendor_terms(**overrides: Any) -> dict[str, Any]:
    body = vendor(**overrides)
    return {name: body[name] for name in ("tax_id", "country", "vendor_type", "payment_terms")}


def portal_account(external_ref: str = "APP-1", **overrides: Any) -> dict[str, Any]:
    body = {
        "external_ref": external_ref,
        "vendor_id": "V-000001",
        "display_name": "Acme Components",
        "contact_email": "ap@acme.example",
    }
    return {**body, **overrides}


def account(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Acme Components GmbH",
        "domain": "acme.example",
        "billing_email": "billing@acme.example",
        "billing_contact_name": "Ada Lovelace",
        "type": "prospect",
    }
    return {**body, **overrides}


def lead(email: str = "ada@acme.example", **overrides: Any) -> dict[str, Any]:
    body = {
        "email": email,
        "name": "Ada Lovelace",
        "company": "Acme Components",
        "domain": "acme.example",
        "source": "website",
        "form": {"interest": "widgets", "seats": 40},
    }
    return {**body, **overrides}


def deal(**overrides: Any) -> dict[str, Any]:
    body = {
        "lead_id": "LEAD-000001",
        "name": "Acme widgets 2026",
        "amount_cents": 1_200_000,
        "currency": "EUR",
        "owner": "sam.sales",
    }
    return {**body, **overrides}


def envelope(external_ref: str = "DEAL-000001", **overrides: Any) -> dict[str, Any]:
    body = {
        "external_ref": external_ref,
        "document_name": "Order form",
        "document_text": "Acme orders 40 seats.",
        "signer_name": "Ada Lovelace",
        "signer_email": "ada@acme.example",
    }
    return {**body, **overrides}
