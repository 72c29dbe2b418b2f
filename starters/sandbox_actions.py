"""What people do by hand in the external systems, for the demo and tests (sandbox admin API):
a customer pays, a sales rep moves a deal, a signer signs; and a day of invoices seeded at once."""

from datetime import date
from typing import Any

import httpx

from runtime.settings import Settings


class SandboxRefused(Exception):
    """The (sandbox) system did not take the action; the message says why."""


class SandboxUnreachable(SandboxRefused):
    """No answer from the sandbox at its address: it is not running, or the address is wrong."""


def record_payment(
    settings: Settings, invoice_number: str, amount_cents: int, payment_id: str | None
) -> str:
    """The customer pays in billing; its signed Stripe events (`invoice.updated`, and
    `invoice.paid` once settled) then reach the run."""
    body: dict[str, Any] = {"amount_cents": amount_cents}
    if payment_id:
        body["payment_id"] = payment_id
    answer = _admin(settings, f"/_admin/billing/invoices/{invoice_number}/payments", body)
    return str(answer.get("payment", {}).get("payment_id", ""))


def move_deal(settings: Settings, deal_id: str, stage: str) -> str:
    """A sales rep moves the deal; the CRM's `deal.stage_changed` webhook reaches the run."""
    answer = _admin(settings, f"/_admin/crm/deals/{deal_id}/stage", {"stage": stage})
    return str(answer.get("stage", stage))


def sign_envelope(settings: Settings, envelope_id: str) -> str:
    """The signer signs; e-signature's `envelope.completed` webhook reaches the run."""
    answer = _admin(settings, f"/_admin/esign/envelopes/{envelope_id}/sign", None)
    return str(answer.get("status", ""))


def seed_invoices(
    settings: Settings, day: date, count: int, prefix: str, deal_ids: list[str]
) -> dict[str, Any]:
    """A day of `count` issued invoices in (sandbox) billing at once, for volume tests and the
    benchmark; each names the next of `deal_ids` as its CRM deal."""
    body = {"day": day.isoformat(), "count": count, "prefix": prefix, "deal_ids": deal_ids}
    body["time_zone"] = settings.reconciliation_time_zone
    # 100,000 invoices are written in one transaction: seconds, more on a busy machine.
    return _admin(settings, "/_admin/billing/invoices/seed", body, timeout=600)


def _admin(
    settings: Settings, path: str, body: dict[str, Any] | None, timeout: float = 10
) -> dict[str, Any]:
    token = settings.sandbox_admin_token.get_secret_value() if settings.sandbox_admin_token else ""
    try:
        response = httpx.post(
            settings.sandbox_url.rstrip("/") + path,
            json=body,
            headers={"X-Admin-Token": token},
            timeout=timeout,
        )
    except httpx.TransportError:
        raise SandboxUnreachable(
            f"sandbox unreachable at {settings.sandbox_url}: start it with "
            "`backoffice dev up` or set BACKOFFICE_SANDBOX_URL"
        ) from None
    except httpx.HTTPError as exc:
        raise SandboxRefused(f"the sandbox's answer failed ({type(exc).__name__})") from None
    if not response.is_success:
        try:
            error = response.json()["error"]
            problem = f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            problem = f"HTTP {response.status_code}"
        raise SandboxRefused(f"the system refused ({problem})")
    answer: dict[str, Any] = response.json()
    return answer
