"""Builds the sandbox app: shared plumbing (store, faults, errors, admin API) plus each system.

To add a system, write its module (a ``SYSTEM`` with routes) and list it in ``SYSTEMS``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from sandbox import (
    admin,
    billing,
    billing_invoices,
    billing_payments,
    billing_seed,
    crm,
    crm_sales,
    enrichment,
    erp,
    esign,
    portal,
    slack,
    slack_page,
    webhook_admin,
)
from sandbox.delivery import WebhookDispatcher
from sandbox.errors import install_error_handlers
from sandbox.faults import FaultBook, FaultMiddleware
from sandbox.ratelimit import RateLimiter
from sandbox.state import SandboxState
from sandbox.store import Store
from sandbox.system import System

log = logging.getLogger(__name__)

SYSTEMS: tuple[System, ...] = (
    erp.SYSTEM,
    portal.SYSTEM,
    crm.SYSTEM,
    billing.SYSTEM,
    esign.SYSTEM,
    enrichment.SYSTEM,
    slack.SYSTEM,
)
# Modules that only add routes to a system above: CRM leads and deals, billing invoices,
# payments and bulk seeding.
EXTENSIONS = (crm_sales, billing_invoices, billing_payments, billing_seed)


def create_app(database_url: str, admin_token: str | None) -> FastAPI:
    """The sandbox on ``database_url``; tables are created if missing, data is kept."""
    store = Store(database_url)
    store.create_tables()
    state = SandboxState(
        store=store,
        faults=FaultBook(),
        rate_limits=RateLimiter(),
        webhooks=WebhookDispatcher(store),
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
        await state.webhooks.start()
        yield
        await state.webhooks.stop()
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
    app.include_router(webhook_admin.router)
    app.include_router(slack_page.router)
    for system in SYSTEMS:
        for router in system.routers:
            app.include_router(router)
    app.add_middleware(FaultMiddleware, book=state.faults, systems=frozenset(state.systems))
    return app
