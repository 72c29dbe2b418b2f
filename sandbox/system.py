"""What a system is (name, auth scheme, routes) and the per-request plumbing it gets for free.

A system module declares ``SYSTEM = System("erp", BasicAuth())``, adds routes to
``SYSTEM.router`` and takes a ``SystemCall`` in each handler. Authentication, ledger
events for refusals and ``Idempotency-Key`` handling happen here, once for all systems.
Two more routers: ``open_router`` (same prefix, no auth: e.g. an OAuth token endpoint) and
``admin_router`` (``/_admin/{name}``, admin token: what the system's users do by hand, such
as paying an invoice or signing an envelope).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from sandbox import idempotency
from sandbox.auth import NOT_CONFIGURED, AuthScheme, load_credentials, require_admin
from sandbox.errors import ApiError, validation_error
from sandbox.idempotency import Reply
from sandbox.ledger import append_event
from sandbox.state import state_of
from sandbox.store import Store

T = TypeVar("T")

# Refusals by a system rule, logged as ``rejected`` ledger events.
_REJECTION_STATUSES = {409, 422}


@dataclass(frozen=True)
class SystemCall:
    """One request to a system: runs its work in a transaction, idempotently for creates."""

    system: str
    store: Store
    method: str
    path: str
    idempotency_key: str | None
    fingerprint: str

    def run(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction; a rule refusal is rolled back, then logged."""
        try:
            with self.store.transaction() as session:
                return work(session)
        except ApiError as error:
            if error.status_code in _REJECTION_STATUSES:
                self._log_rejection(error)
            raise

    def create(self, work: Callable[[Session], Reply]) -> JSONResponse:
        """Run a create, or replay the stored answer for a repeated ``Idempotency-Key``."""
        return self.run(self._create_once(work)).response()

    def _create_once(self, work: Callable[[Session], Reply]) -> Callable[[Session], Reply]:
        def attempt(session: Session) -> Reply:
            key = self.idempotency_key
            if key is None:
                return work(session)
            stored = idempotency.lookup(session, self.system, key)
            if stored is None:
                reply = work(session)
                idempotency.remember(session, self.system, key, self.fingerprint, reply)
                return reply
            if stored.fingerprint != self.fingerprint:
                raise ApiError(
                    409,
                    "IDEMPOTENCY_KEY_REUSED",
                    f"Idempotency-Key {key!r} was already used on {self.system} with another "
                    "request; use a new key for a new request",
                )
            append_event(
                session,
                system=self.system,
                action="idempotent_replay",
                kind=stored.record_kind,
                record_id=stored.record_id,
                detail={"idempotency_key": key, "method": self.method, "path": self.path},
            )
            return Reply(stored.status_code, stored.response, replayed=True)

        return attempt

    def _log_rejection(self, error: ApiError) -> None:
        with self.store.transaction() as session:
            append_event(
                session,
                system=self.system,
                action="rejected",
                detail={
                    "code": error.code,
                    "status": error.status_code,
                    "method": self.method,
                    "path": self.path,
                },
            )


class System:
    """An external system: its name (also its path prefix), auth scheme and routes."""

    def __init__(
        self,
        name: str,
        auth: AuthScheme,
        *,
        webhook_events: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.auth = auth
        self.webhook_events = webhook_events
        self.router = APIRouter(
            prefix=f"/{name}", tags=[name], dependencies=[Depends(self.authenticate)]
        )
        self.open_router = APIRouter(prefix=f"/{name}", tags=[name])
        self.admin_router = APIRouter(
            prefix=f"/_admin/{name}",
            tags=["admin", name],
            dependencies=[Depends(require_admin)],
        )

    @property
    def routers(self) -> tuple[APIRouter, ...]:
        return (self.open_router, self.router, self.admin_router)

    def authenticate(self, request: Request) -> None:
        """Refuse the request with 401 unless it carries credentials the system accepts."""
        store = state_of(request).store
        with store.transaction() as session:
            accepted = load_credentials(session, self.name)
            refusal = (
                NOT_CONFIGURED
                if accepted is None
                else self.auth.check(session, self.name, request.headers, accepted)
            )
            if refusal is None:
                return
            append_event(
                session,
                system=self.name,
                action="unauthorized",
                detail={
                    "reason": refusal.reason,
                    "method": request.method,
                    "path": request.url.path,
                },
            )
        raise ApiError(
            401,
            refusal.code,
            f"{self.name}: {refusal.reason} ({self.auth.name} auth)",
            self.auth.challenge(self.name),
        )

    async def call(
        self,
        request: Request,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> SystemCall:
        """The ``SystemCall`` dependency every handler of this system takes."""
        if idempotency_key is not None and not (
            0 < len(idempotency_key) <= idempotency.MAX_KEY_LENGTH
        ):
            raise validation_error(
                f"header.Idempotency-Key: must be 1 to {idempotency.MAX_KEY_LENGTH} characters"
            )
        body = await request.body()
        return SystemCall(
            system=self.name,
            store=state_of(request).store,
            method=request.method,
            path=request.url.path,
            idempotency_key=idempotency_key,
            fingerprint=idempotency.fingerprint(request.method, request.url.path, body),
        )
