"""`POST /webhooks/{system}`: verify the signature on the raw body, dedupe, hand over by signal.

A bad signature is a 401 and touches nothing. A verified event is acknowledged (200) once it is
applied, ignored, recognised as a redelivery, or parked as a dead letter that an operator can
replay (`backoffice webhooks dead-letters`, `backoffice webhooks replay <id>`).
"""

import json
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from domain.metrics import WebhookOutcome
from runtime.vault import SecretUnavailable
from starters.api.metrics import ApiMetrics
from starters.webhooks.inbox import Busy, EventOutcome, TemporalUnavailable, WebhookInbox
from starters.webhooks.signature import SignatureError, header_for, verify

router = APIRouter(tags=["webhooks"])


class WebhookSystem(StrEnum):
    BILLING = "billing"
    CRM = "crm"
    ESIGN = "esign"


class WebhookAck(BaseModel):
    """`status`: delivered, duplicate, ignored or dead_letter."""

    status: str
    workflow_id: str | None = None


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


@router.post(
    "/webhooks/{system}",
    response_model=WebhookAck,
    summary="Receive a signed event from an external system",
    responses={
        400: {"description": "Verified, but not an event (no JSON object with id and type)"},
        401: {"description": "Signature missing, malformed, stale or not matching"},
        503: {"description": "Secrets or Temporal unavailable, or the event is being handled"},
    },
)
async def receive_webhook(system: WebhookSystem, request: Request) -> Any:
    state = request.app.state
    body = await request.body()
    try:
        secrets = (await state.secrets.read(f"webhooks/{system.value}")).get("secrets", [])
    except SecretUnavailable:
        _count(request, system, WebhookOutcome.UNAVAILABLE)
        return _error(503, "SECRETS_UNAVAILABLE", "cannot read the webhook secrets now")
    try:
        name = header_for(system.value)
        verify(
            request.headers.get(name),
            body,
            secrets,
            tolerance_seconds=state.settings.webhook_tolerance_seconds,
            name=name,
        )
    except SignatureError as exc:
        _count(request, system, WebhookOutcome.BAD_SIGNATURE)
        return _error(401, exc.code, exc.message)
    event = _event(body)
    if event is None:
        _count(request, system, WebhookOutcome.INVALID_EVENT)
        return _error(
            400,
            "INVALID_EVENT",
            "the body is not a JSON object with `id` (at most 200 characters) and `type` (100), "
            "both valid Unicode",
        )
    inbox: WebhookInbox = state.webhook_inbox
    try:
        outcome: EventOutcome = await inbox.receive(system.value, event)
    except Busy as exc:
        _count(request, system, WebhookOutcome.BUSY)
        return _error(503, "EVENT_IN_PROGRESS", str(exc))
    except TemporalUnavailable as exc:
        _count(request, system, WebhookOutcome.UNAVAILABLE)
        return _error(503, "TEMPORAL_UNAVAILABLE", str(exc))
    _count(request, system, outcome.status)
    return WebhookAck(status=outcome.status, workflow_id=outcome.workflow_id)


def _count(request: Request, system: WebhookSystem, outcome: WebhookOutcome | str) -> None:
    metrics: ApiMetrics = request.app.state.metrics
    metrics.webhook(system.value, outcome)


def _event(body: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(body)
    except ValueError:
        return None
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        return None
    # The inbox stores ids and types in bounded columns (PostgreSQL refuses longer ones).
    if len(str(event["id"])) > 200 or len(str(event["type"])) > 100:
        return None
    if not (_storable(str(event["id"])) and _storable(str(event["type"]))):
        return None
    return event


def _storable(text: str) -> bool:
    """JSON can escape half a UTF-16 surrogate pair; no database column takes that text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
