"""Test helpers for invoices: a CRM account and deal to bill, requests, the billing ledger."""

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from devstack.stack import Stack


class Crm:
    """The sandbox CRM as a test sets it up: through its real API, with its OAuth2 token."""

    def __init__(self, stack: Stack) -> None:
        self._creds = stack.vault_root().secrets.kv.v2.read_secret_version(
            path="backoffice/systems/crm", mount_point="secret", raise_on_deleted_version=True
        )["data"]["data"]
        self._http = httpx.Client(base_url=f"{stack.sandbox_url}/crm", timeout=10)
        self._login()

    def _login(self) -> None:
        token = self._http.post(
            "/oauth/token", data={"grant_type": "client_credentials", **self._creds}
        ).raise_for_status()
        self._http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A test may expire every CRM token: log in again once, like the worker does."""
        response = self._http.request(method, path, **kwargs)
        if response.status_code == 401:
            self._login()
            response = self._http.request(method, path, **kwargs)
        return response.raise_for_status()

    def account_and_deal(self, name: str = "Globex Corporation") -> tuple[str, str]:
        key = uuid.uuid4().hex[:8]
        account = self._post(
            "/accounts",
            {
                "name": f"{name} {key}",
                "domain": f"globex-{key}.example",
                "billing_email": f"ap-{key}@globex.example",
                "billing_contact_name": "Avery Payable",
                "type": "prospect",
            },
        )
        deal = self._post(
            "/deals",
            {
                "account_id": account["id"],
                "name": f"Globex renewal {key}",
                "amount_cents": 500_000,
                "currency": "EUR",
                "stage": "closed_won",
                "owner": "sam",
            },
        )
        return account["id"], deal["id"]

    def deal(self, deal_id: str) -> dict[str, Any]:
        return dict(self._send("GET", f"/deals/{deal_id}").json())

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        return dict(self._send("POST", path, json=body, headers=headers).json())


def invoice_request(account_id: str, deal_id: str, **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "invoice_number": f"INV-{uuid.uuid4().hex[:10].upper()}",
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


def billing_invoices(admin: httpx.Client, number: str) -> list[dict[str, Any]]:
    ledger = admin.get("/_admin/ledger", params={"system": "billing"}).raise_for_status().json()
    return [
        r for r in ledger["records"] if r["kind"] == "invoice" and r["data"].get("number") == number
    ]


def pay(
    admin: httpx.Client, number: str, amount_cents: int, payment_id: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"amount_cents": amount_cents}
    if payment_id:
        body["payment_id"] = payment_id
    response = admin.post(f"/_admin/billing/invoices/{number}/payments", json=body)
    return dict(response.raise_for_status().json())
