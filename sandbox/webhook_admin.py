"""The webhook admin API under ``/_admin/webhooks`` (admin token).

``GET /webhooks`` (targets, never their secrets), ``PUT|DELETE /webhooks/{system}``,
``GET /webhooks/events[?system=&type=]``, ``GET /webhooks/events/{event_id}``,
``POST /webhooks/events/{event_id}/redeliver``, ``GET /webhooks/deliveries[?system=&event_id=]``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import ValidationError

from sandbox.admin import system_named
from sandbox.auth import require_admin
from sandbox.errors import not_found, validation_error, validation_error_from
from sandbox.state import SandboxState, state_of
from sandbox.system import System
from sandbox.webhooks import (
    WebhookTarget,
    delete_target,
    delivery_view,
    event_view,
    find_deliveries,
    find_events,
    get_event,
    list_targets,
    save_target,
    target_view,
)

router = APIRouter(
    prefix="/_admin/webhooks", tags=["admin", "webhooks"], dependencies=[Depends(require_admin)]
)


def _webhook_system(state: SandboxState, name: str) -> System:
    system = system_named(state, name)
    if not system.webhook_events:
        senders = ", ".join(sorted(s.name for s in state.systems.values() if s.webhook_events))
        raise validation_error(f"system: {name} sends no webhooks; systems that do: {senders}")
    return system


@router.get("")
def get_targets(request: Request) -> dict[str, Any]:
    with state_of(request).store.transaction() as session:
        return {"targets": list_targets(session)}


@router.put("/{system}")
def put_target(system: str, request: Request, target: Annotated[Any, Body()]) -> dict[str, Any]:
    """Where ``system`` sends its events from now on, signed with ``secret``."""
    state = state_of(request)
    sender = _webhook_system(state, system)
    try:
        accepted = WebhookTarget.model_validate(target)
    except ValidationError as exc:
        raise validation_error_from(exc, "body") from exc
    with state.store.transaction() as session:
        return target_view(save_target(session, sender.name, accepted))


@router.delete("/{system}")
def remove_target(system: str, request: Request) -> dict[str, Any]:
    """Stop sending ``system``'s events (new ones are stored as ``no_target``)."""
    state = state_of(request)
    sender = _webhook_system(state, system)
    with state.store.transaction() as session:
        return {"system": sender.name, "deleted": delete_target(session, sender.name)}


@router.get("/events")
def list_events(
    request: Request,
    system: str | None = None,
    event_type: Annotated[str | None, Query(alias="type")] = None,
) -> dict[str, Any]:
    """Emitted events, oldest first, each as sent plus its delivery status."""
    state = state_of(request)
    name = None if system is None else _webhook_system(state, system).name
    with state.store.transaction() as session:
        return {"events": [event_view(row) for row in find_events(session, name, event_type)]}


@router.get("/events/{event_id}")
def get_one_event(event_id: str, request: Request) -> dict[str, Any]:
    with state_of(request).store.transaction() as session:
        row = get_event(session, event_id)
        if row is None:
            raise not_found(f"webhook event {event_id!r}")
        return event_view(row)


@router.post("/events/{event_id}/redeliver")
async def redeliver(event_id: str, request: Request) -> dict[str, Any]:
    """Send an event again now, once: same id and body, fresh signature; answers the attempt."""
    return await state_of(request).webhooks.redeliver(event_id)


@router.get("/deliveries")
def list_deliveries(
    request: Request, system: str | None = None, event_id: str | None = None
) -> dict[str, Any]:
    """Every delivery attempt, oldest first."""
    state = state_of(request)
    name = None if system is None else _webhook_system(state, system).name
    with state.store.transaction() as session:
        rows = find_deliveries(session, name, event_id)
        return {"deliveries": [delivery_view(row) for row in rows]}
