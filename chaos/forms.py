"""What the suite's runs start from: vendor applications, web-form leads and invoice requests,
each with a business key of its own (and, for the canary checks, recognizable personal data)."""

import uuid
from datetime import UTC, datetime
from typing import Any


def new_key() -> str:
    return uuid.uuid4().hex[:10].upper()


def iban(country: str = "DE", bban: str | None = None) -> str:
    """A valid IBAN (check digits computed) for made-up bank data."""
    bban = bban or f"{uuid.uuid4().int % 10**18:018d}"
    digits = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def vendor_application(**overrides: Any) -> dict[str, Any]:
    """A German supplier (no approval needed) unless overridden."""
    key = new_key()
    app: dict[str, Any] = {
        "application_id": f"APP-{key}",
        "legal_name": f"Acme Components {key} GmbH",
        "tax_id": f"DE{uuid.uuid4().int % 10**9:09d}",
        "country": "DE",
        "vendor_type": "supplier",
        "payment_terms": "net30",
        "contact_name": "Dana Example",
        "contact_email": f"dana.{key.lower()}@acme.example",
        "bank_account": {"iban": iban(), "bic": "DEUTDEFFXXX"},
        "requested_by": "rory",
    }
    app.update(overrides)
    return app


# A lead that does not qualify: nurture emails, then `nurtured`.
NOT_QUALIFIED = {"budget_cents": 0, "authority": False, "need": "low", "timeline": "unknown"}


def lead_form(**overrides: Any) -> dict[str, Any]:
    """A lead that qualifies (a deal, a contract, an invoice) unless overridden."""
    key = uuid.uuid4().hex[:8]
    form: dict[str, Any] = {
        "lead_id": f"WEB-{key.upper()}",
        "email": f"cto-{key}@initech-{key}.example",
        "name": "Morgan Buyer",
        "company": f"Initech {key}",
        "domain": f"initech-{key}.example",
        "source": "web-form",
        "budget_cents": 5_000_000,
        "authority": True,
        "need": "high",
        "timeline": "now",
        "seats": 5,
        "currency": "EUR",
        "requested_discount_bp": 0,
    }
    form.update(overrides)
    return form


def invoice_request(account_id: str, deal_id: str, **overrides: Any) -> dict[str, Any]:
    """An invoice of 3,568.50 EUR net (below the finance threshold) unless overridden."""
    request: dict[str, Any] = {
        "invoice_number": f"INV-{new_key()}",
        "crm_account_id": account_id,
        "crm_deal_id": deal_id,
        "lines": [
            {
                "description": "Platform subscription",
                "quantity": 12,
                "unit_price_cents": 25_000,
                "tax_rate_bp": 1900,
            },
            {
                "description": "Onboarding",
                "quantity": 1,
                "unit_price_cents": 99_950,
                "tax_rate_bp": 1900,
            },
        ],
        "currency": "EUR",
        "payment_terms": "net30",
        "issue_date": datetime.now(UTC).date().isoformat(),
        "requested_by": "billing-service",
    }
    request.update(overrides)
    return request


def subscription_request(account_id: str, deal_id: str, **overrides: Any) -> dict[str, Any]:
    """A monthly subscription of 12 seats at 50.00 EUR, 10 % off, from today."""
    request: dict[str, Any] = {
        "subscription_id": f"SUB-{new_key()}",
        "crm_account_id": account_id,
        "crm_deal_id": deal_id,
        "plan": {
            "seats": 12,
            "price_per_seat_cents": 5_000,
            "discount_bp": 1000,
            "tax_rate_bp": 1900,
            "currency": "EUR",
            "interval": "monthly",
        },
        "anchor": datetime.now(UTC).date().isoformat(),
        "payment_terms": "net30",
        "requested_by": "billing-service",
    }
    request.update(overrides)
    return request
