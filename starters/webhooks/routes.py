"""Which workflow each webhook event is for, and the signal that hands it over.

Later processes add their events here: one entry per (system, event type).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from domain.contract import (
    CONTRACT_SIGNED_SIGNAL,
    DEAL_STAGE_CHANGED_SIGNAL,
    PAYMENT_RECEIVED_SIGNAL,
    invoice_workflow_id,
    lead_to_cash_id,
)
from domain.invoice import PaymentReceived
from domain.lead import ContractSigned, DealStageChanged


@dataclass(frozen=True)
class SignalTarget:
    workflow_id: str
    signal: str
    arg: BaseModel


class EventDataInvalid(Exception):
    """The event passed the signature check but its data is not what the route needs."""


def _invoice_payment(invoice: Any, added_cents: int) -> SignalTarget:
    """A payment on a Stripe invoice: `payment_id` names the invoice and what it has paid so
    far, so a redelivery, or `invoice.paid` after the `invoice.updated` of the same payment,
    is the same payment."""
    if not isinstance(invoice, dict):
        raise TypeError("data.object is not an object")
    paid = int(invoice["amount_paid"])
    return SignalTarget(
        invoice_workflow_id(str(invoice["metadata"]["invoice_number"])),
        PAYMENT_RECEIVED_SIGNAL,
        PaymentReceived(
            payment_id=f"{invoice['id']}@{paid}", amount_cents=added_cents, paid_to_date_cents=paid
        ),
    )


def _invoice_paid(data: dict[str, Any]) -> SignalTarget:
    """Stripe's `invoice.paid`: the invoice is settled."""
    invoice = data["object"]
    return _invoice_payment(invoice, int(invoice["amount_paid"]))


def _invoice_updated(data: dict[str, Any]) -> SignalTarget | None:
    """Stripe's `invoice.updated` whose `amount_paid` grew: a payment, partial ones included.
    Other updates are nobody's business here."""
    invoice, previous = data["object"], data.get("previous_attributes") or {}
    if not isinstance(previous, dict) or "amount_paid" not in previous:
        return None
    added = int(invoice["amount_paid"]) - int(previous["amount_paid"])
    return _invoice_payment(invoice, added) if added > 0 else None


def _deal_stage_changed(data: dict[str, Any]) -> SignalTarget | None:
    """Deals opened by LeadToCash carry the lead id as their `external_ref`; others are not ours."""
    if not data.get("external_ref"):
        return None
    return SignalTarget(
        lead_to_cash_id(str(data["external_ref"])),
        DEAL_STAGE_CHANGED_SIGNAL,
        DealStageChanged(
            deal_id=data["deal_id"], stage=data["stage"], previous_stage=data.get("previous_stage")
        ),
    )


def _envelope_completed(data: dict[str, Any]) -> SignalTarget | None:
    if not data.get("external_ref"):
        return None
    return SignalTarget(
        lead_to_cash_id(str(data["external_ref"])),
        CONTRACT_SIGNED_SIGNAL,
        ContractSigned(envelope_id=data["envelope_id"]),
    )


ROUTES: dict[tuple[str, str], Callable[[dict[str, Any]], SignalTarget | None]] = {
    ("billing", "invoice.paid"): _invoice_paid,
    ("billing", "invoice.updated"): _invoice_updated,
    ("crm", "deal.stage_changed"): _deal_stage_changed,
    ("esign", "envelope.completed"): _envelope_completed,
}

SYSTEMS_WITH_WEBHOOKS = ("billing", "crm", "esign")


def route(system: str, event_type: str, data: dict[str, Any]) -> SignalTarget | None:
    """The signal for this event, or None when no process listens to it."""
    build = ROUTES.get((system, event_type))
    if build is None:
        return None
    if not isinstance(data, dict):  # a signed event can still carry nonsense: a dead letter
        raise EventDataInvalid(f"{system} {event_type} event data: not a JSON object")
    try:
        return build(data)
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise EventDataInvalid(f"{system} {event_type} event data: {type(exc).__name__}") from None
