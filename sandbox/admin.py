"""The admin API under ``/_admin``: credentials, faults, ledger, reset and health.

Routes: ``GET /health``, ``POST /echo``, ``POST /reset``, ``PUT|DELETE /credentials/{system}``,
``GET|DELETE /faults``, ``PUT|DELETE /faults/{system}``, ``GET /ledger[?system=&after_seq=]``.
Webhook admin routes are in ``webhook_admin.py``; a system's own admin routes (paying an
invoice, signing an envelope...) are on its ``admin_router`` under ``/_admin/{system}``.

When the app has an admin token, every route except ``/_admin/health`` and ``/_admin/echo``
needs the header ``X-Admin-Token``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import ValidationError

from sandbox.auth import delete_credentials, require_admin, save_credentials
from sandbox.errors import validation_error, validation_error_from
from sandbox.faults import parse_rules
from sandbox.ledger import ledger
from sandbox.state import SandboxState, state_of
from sandbox.system import System


def system_named(state: SandboxState, name: str) -> System:
    """The system called ``name``, or a 422 listing the known ones."""
    system = state.systems.get(name)
    if system is None:
        known = ", ".join(sorted(state.systems))
        raise validation_error(f"system: unknown system {name!r}; known systems: {known}")
    return system


public = APIRouter(prefix="/_admin", tags=["admin"])
router = APIRouter(prefix="/_admin", tags=["admin"], dependencies=[Depends(require_admin)])


@public.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@public.post("/echo")
async def echo(request: Request) -> Response:
    """The request body back, untouched: the trivial endpoint of the benchmark's floor (one HTTP
    call per activity, as cheap as a server can answer; no database, no auth)."""
    return Response(content=await request.body(), media_type="application/json")


@router.post("/reset")
def reset(request: Request) -> dict[str, str]:
    """Forget records, events, idempotency keys, settings, access tokens, webhook events, faults.

    Credentials and webhook targets stay; deliveries under way are cancelled.
    """
    state = state_of(request)
    state.webhooks.cancel_all()
    state.store.reset()
    state.faults.clear()
    state.rate_limits.clear()
    return {"status": "reset"}


@router.put("/credentials/{system}")
def put_credentials(
    system: str, request: Request, credentials: Annotated[Any, Body()]
) -> dict[str, str]:
    """Replace what a system accepts: only these credentials work from now on."""
    state = state_of(request)
    target = system_named(state, system)
    try:
        accepted = target.auth.credentials_model.model_validate(credentials)
    except ValidationError as exc:
        raise validation_error_from(exc, "body") from exc
    with state.store.transaction() as session:
        save_credentials(session, target.name, accepted)
        target.auth.credentials_changed(session, target.name)
    return {"system": target.name, "scheme": target.auth.name}


@router.delete("/credentials/{system}")
def remove_credentials(system: str, request: Request) -> dict[str, str]:
    """Revoke a system's credentials: it refuses every call until new ones are set."""
    state = state_of(request)
    target = system_named(state, system)
    with state.store.transaction() as session:
        delete_credentials(session, target.name)
        target.auth.credentials_changed(session, target.name)
    return {"system": target.name, "scheme": target.auth.name}


@router.get("/faults")
def list_faults(request: Request) -> dict[str, Any]:
    return {"faults": state_of(request).faults.view()}


@router.put("/faults/{system}")
def put_faults(system: str, request: Request, rules: Annotated[Any, Body()]) -> dict[str, Any]:
    state = state_of(request)
    target = system_named(state, system)
    state.faults.replace(target.name, parse_rules(rules))
    return {"system": target.name, "rules": state.faults.view().get(target.name, [])}


@router.delete("/faults")
def clear_faults(request: Request) -> dict[str, Any]:
    state = state_of(request)
    state.faults.clear()
    return {"faults": state.faults.view()}


@router.delete("/faults/{system}")
def clear_system_faults(system: str, request: Request) -> dict[str, Any]:
    state = state_of(request)
    state.faults.clear(system_named(state, system).name)
    return {"faults": state.faults.view()}


@router.get("/ledger")
def get_ledger(
    request: Request, system: str | None = None, after_seq: int | None = None
) -> dict[str, Any]:
    """Every record and event (``after_seq``: only events with a greater ``seq``)."""
    state = state_of(request)
    name = None if system is None else system_named(state, system).name
    with state.store.transaction() as session:
        return ledger(session, name, after_seq)
