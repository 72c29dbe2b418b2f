"""Builds the sandbox app: shared plumbing (store, faults, errors, admin API) plus each system.

To add a system, write its module (a ``SYSTEM`` with routes) and list it in ``SYSTEMS``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from sandbox import admin, erp, mail, portal
from sandbox.errors import install_error_handlers
from sandbox.faults import FaultBook, FaultMiddleware
from sandbox.state import SandboxState
from sandbox.store import Store
from sandbox.system import System

log = logging.getLogger(__name__)

SYSTEMS: tuple[System, ...] = (erp.SYSTEM, portal.SYSTEM, mail.SYSTEM)


def create_app(database_url: str, admin_token: str | None) -> FastAPI:
    """The sandbox on ``database_url``; tables are created if missing, data is kept."""
    store = Store(database_url)
    store.create_tables()
    state = SandboxState(
        store=store,
        faults=FaultBook(),
        systems={system.name: system for system in SYSTEMS},
        admin_token=admin_token or None,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        log.info(
            "sandbox serving %s on %s (admin token %s)",
            ", ".join(state.systems),
            store.display_url,
            "required" if state.admin_token else "not set",
        )
        yield
        store.close()

    app = FastAPI(
        title="Back-office sandbox",
        description="Stand-ins for the external systems, with fault injection and a ledger.",
        lifespan=lifespan,
    )
    app.state.sandbox = state
    install_error_handlers(app)
    app.include_router(admin.public)
    app.include_router(admin.router)
    for system in SYSTEMS:
        app.include_router(system.router)
    app.add_middleware(FaultMiddleware, book=state.faults, systems=frozenset(state.systems))
    return app
