"""Accounts and deals in the sandbox CRM, made through its real API (OAuth2 like any client),
for the demo and the tests that need something to invoice."""

import uuid
from typing import Any

import httpx

from devstack.stack import Stack


class SandboxCrm:
    def __init__(self, stack: Stack) -> None:
        self._creds = stack.vault_root().secrets.kv.v2.read_secret_version(
            path="backoffice/systems/crm", mount_point="secret", raise_on_deleted_version=True
        )["data"]["data"]
        self._http = httpx.Client(base_url=f"{stack.sandbox_url}/crm", timeout=10, trust_env=False)
        self._login()

    def account_and_deal(
        self, name: str = "Globex Corporation", amount_cents: int = 500_000
    ) -> tuple[str, str]:
        """A customer account with a billing contact, and a won deal on it."""
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
                "name": f"{name} renewal {key}",
                "amount_cents": amount_cents,
                "currency": "EUR",
                "stage": "closed_won",
                "owner": "sam",
            },
        )
        return account["id"], deal["id"]

    def deal(self, deal_id: str) -> dict[str, Any]:
        return dict(self._send("GET", f"/deals/{deal_id}").json())

    def _login(self) -> None:
        token = self._http.post(
            "/oauth/token", data={"grant_type": "client_credentials", **self._creds}
        ).raise_for_status()
        self._http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Tokens expire (and tests expire them): log in again once, like the worker does."""
        response = self._http.request(method, path, **kwargs)
        if response.status_code == 401:
            self._login()
            response = self._http.request(method, path, **kwargs)
        return response.raise_for_status()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        return dict(self._send("POST", path, json=body, headers=headers).json())
