"""Stripe's wire format, for the billing activities: form encoding, the objects we read, search.

Stripe takes `application/x-www-form-urlencoded` bodies with brackets for nesting
(`metadata[crm_account_id]=…`, `tax_rates[0]=txr_…`, `created[gte]=…`) and answers JSON. The
version is pinned so that a change of the account's default version changes nothing here.
"""

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

# The version stripe-mock v0.203.0's bundled OpenAPI spec describes.
STRIPE_VERSION = "2026-08-26.dahlia"
STRIPE_HEADERS = {"Stripe-Version": STRIPE_VERSION}
# Metadata keys the processes write and search by.
CRM_ACCOUNT_ID = "crm_account_id"
INVOICE_NUMBER = "invoice_number"
WORKFLOW_ID = "workflow_id"
RATE_BP = "backoffice_rate_bp"


def form(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested params into Stripe's bracket notation; None is left out."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, Mapping):
            flat.update(form(value, name))
        elif isinstance(value, list | tuple):
            flat.update(form({str(i): item for i, item in enumerate(value)}, name))
        elif isinstance(value, bool):
            flat[name] = "true" if value else "false"
        else:
            flat[name] = str(value)
    return flat


def metadata_query(**metadata: str) -> str:
    """A Search API query matching every `metadata[key]` exactly."""
    return " AND ".join(
        f"metadata['{key}']:'{_quoted(value)}'" for key, value in sorted(metadata.items())
    )


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


class Customer(BaseModel):
    id: str
    metadata: dict[str, str] = {}


class Customers(BaseModel):
    data: list[Customer]
    has_more: bool = False


class TaxRate(BaseModel):
    id: str
    percentage: float
    inclusive: bool
    active: bool = True
    metadata: dict[str, str] = {}


class TaxRates(BaseModel):
    data: list[TaxRate]
    has_more: bool = False


class InvoiceItem(BaseModel):
    id: str


class StatusTransitions(BaseModel):
    finalized_at: int | None = None
    paid_at: int | None = None
    voided_at: int | None = None


class TotalTax(BaseModel):
    amount: int


class Invoice(BaseModel):
    id: str
    status: str | None = None
    customer: str | None = None
    currency: str
    subtotal: int
    total: int
    total_taxes: list[TotalTax] | None = None
    amount_paid: int
    amount_due: int
    amount_remaining: int = 0
    due_date: int | None = None
    created: int
    metadata: dict[str, str] | None = None
    status_transitions: StatusTransitions = StatusTransitions()


class Invoices(BaseModel):
    data: list[Invoice]
    has_more: bool = False


class Deleted(BaseModel):
    id: str
    deleted: bool
