"""The HTTP API as one FastAPI app: `create_app(settings)`.

Its lifespan connects to Temporal and builds the Vault store, the credential checker and the
database engine once; the routes live in one module per concern.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.metrics import NoOpMeterProvider

from activities.audit import AuditLog
from runtime.db import make_engine
from runtime.schema import require_current_schema
from runtime.settings import Settings
from runtime.telemetry import Service, Telemetry
from runtime.temporal import connect
from runtime.vault import secret_store
from starters.api import (
    approvals,
    codec,
    codec_session,
    health,
    inbox,
    openapi,
    slack,
    starts,
    systems,
    webhooks,
    workflows,
)
from starters.api.auth import Authenticator
from starters.api.errors import install_error_handlers
from starters.api.limits import RequestLimits
from starters.api.lockout import Lockout
from starters.api.metrics import ApiMetrics
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
    "`BACKOFFICE_API_MAX_BODY_BYTES` (413 beyond); a request line and headers over 16 KiB "
    "answer 431 `REQUEST_HEADERS_TOO_LARGE`."
)

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(settings: Settings, telemetry: Telemetry | None = None) -> FastAPI:
    """The API for `settings`; connections are made when the app starts (its lifespan).

    With `telemetry` (the API process's), every request is a span that the Temporal calls it
    makes continue, and the business metrics go to its metrics endpoint."""
    telemetry = telemetry or Telemetry(Service.API)
    app = build(_lifespan(settings, telemetry), max_body_bytes=settings.api_max_body_bytes)
    if telemetry.tracer_provider is not None:
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=telemetry.tracer_provider,
            meter_provider=NoOpMeterProvider(),
            exclude_spans=["receive", "send"],
        )
    return app


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
    app.add_middleware(RequestLimits, max_bytes=max_body_bytes)
    install_error_handlers(app)
    routers = [
        starts.router,
        workflows.router,
        approvals.router,
        systems.router,
        health.router,
        webhooks.router,
    ]
    for router in routers:
        app.include_router(router)
    openapi.install(app, routers)
    # The Web UI's codec server: Temporal's protocol, not part of this API's OpenAPI document.
    app.include_router(codec.router)
    app.include_router(codec_session.router)
    app.include_router(inbox.router)  # the approval inbox's HTML pages: not in the document
    app.include_router(slack.router)  # Slack's interactivity requests: Slack's protocol
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document (independent of settings: nothing is connected)."""
    limit = Settings.model_fields["api_max_body_bytes"].default
    return build(None, max_body_bytes=limit).openapi()


def _lifespan(settings: Settings, telemetry: Telemetry) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = secret_store(settings)
        temporal = await connect(settings=settings, secrets=store, telemetry=telemetry)
        engine = make_engine(settings.resolved_database_url)
        await asyncio.to_thread(require_current_schema, engine)
        authenticator = await asyncio.to_thread(
            Authenticator,
            store,
            Directory(store),
            cache_seconds=settings.api_auth_cache_seconds,
            lockout=Lockout(
                engine,
                max_failures=settings.sign_in_max_failures,
                max_failures_per_address=settings.sign_in_max_failures_per_address,
                period=settings.sign_in_lockout,
            ),
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
        app.state.metrics = ApiMetrics(telemetry.meter)
        app.state.slack, slack_http = slack.slack_client(
            settings, store, AuditLog(engine), telemetry
        )
        counting = None
        if telemetry.runtime is not None:  # only where a metrics endpoint serves the gauge
            counting = asyncio.create_task(
                app.state.metrics.keep_counting(temporal, engine, settings)
            )
        try:
            yield
        finally:
            if counting is not None:
                counting.cancel()
            await slack_http.aclose()
            engine.dispose()

    return lifespan
