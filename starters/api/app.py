"""The HTTP API as one FastAPI app: `create_app(settings)`.

Its lifespan connects to Temporal and builds the Vault store, the credential checker and the
database engine once; the routes live in one module per concern.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from runtime.db import create_schema, make_engine
from runtime.settings import Settings
from runtime.temporal import connect
from runtime.vault import secret_store
from starters.api import approvals, codec, health, inbox, openapi, starts, webhooks, workflows
from starters.api.auth import Authenticator
from starters.api.errors import install_error_handlers
from starters.api.limits import BodySizeLimit
from starters.api.services import Services
from starters.directory import Directory
from starters.webhooks.inbox import WebhookInbox

TITLE = "backoffice API"
VERSION = "1"
DESCRIPTION = (
    "Start back-office processes, follow them, and decide their approvals.\n\n"
    "Services authenticate with `Authorization: Bearer <client_id>.<secret>` (scopes `start`, "
    "`read`), approvers with HTTP Basic (`read`, `decide`). Every error answers "
    '`{"error": {"code": ..., "message": ...}}`. Bodies are JSON, at most '
    "`BACKOFFICE_API_MAX_BODY_BYTES` (413 beyond)."
)

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(settings: Settings) -> FastAPI:
    """The API for `settings`; connections are made when the app starts (its lifespan)."""
    return build(_lifespan(settings), max_body_bytes=settings.api_max_body_bytes)


def build(lifespan: Lifespan | None, *, max_body_bytes: int) -> FastAPI:
    """The app's routes, middleware and error handlers, without connecting to anything."""
    app = FastAPI(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    install_error_handlers(app)
    routers = [starts.router, workflows.router, approvals.router, health.router, webhooks.router]
    for router in routers:
        app.include_router(router)
    openapi.install(app, routers)
    # The Web UI's codec server: Temporal's protocol, not part of this API's OpenAPI document.
    app.include_router(codec.router)
    app.include_router(inbox.router)  # the approval inbox's HTML pages: not in the document
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document (independent of settings: nothing is connected)."""
    limit = Settings.model_fields["api_max_body_bytes"].default
    return build(None, max_body_bytes=limit).openapi()


def _lifespan(settings: Settings) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = secret_store(settings)
        temporal = await connect(settings=settings, secrets=store)
        engine = make_engine(settings.resolved_database_url)
        await asyncio.to_thread(create_schema, engine)
        authenticator = await asyncio.to_thread(
            Authenticator,
            store,
            Directory(store),
            cache_seconds=settings.api_auth_cache_seconds,
        )
        app.state.services = Services(
            settings=settings,
            temporal=temporal,
            secrets=store,
            authenticator=authenticator,
            engine=engine,
        )
        # What the webhook intake (webhooks.py) reads from the app state.
        app.state.settings = settings
        app.state.secrets = store
        app.state.webhook_inbox = WebhookInbox(engine, temporal)
        try:
            yield
        finally:
            engine.dispose()

    return lifespan
