"""`backoffice api [--host H] [--port P]` serves the API; `backoffice api openapi` prints its
OpenAPI document (what docs/openapi.json holds)."""

import argparse
import sys
from urllib.parse import urlsplit

import uvicorn

from backoffice.cli.parsing import CommandParser
from runtime.db import make_engine
from runtime.logs import configure_logging
from runtime.schema import DatabaseNotReady, require_current_schema
from runtime.settings import SettingsError, load_settings
from runtime.telemetry import Service, TelemetryError, start_telemetry
from starters.api.http_protocol import StagedCloseProtocol
from starters.api.limits import HEAD_LIMIT_BYTES


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="backoffice api",
        description="Serve the HTTP API (where BACKOFFICE_API_URL says, unless --host/--port), "
        "or print its OpenAPI document.",
    )
    parser.add_argument(
        "action", nargs="?", choices=["serve", "openapi"], default="serve", help="default: serve"
    )
    parser.add_argument("--host", help="interface to listen on (default: BACKOFFICE_API_URL's)")
    parser.add_argument("--port", type=int, help="port (default: BACKOFFICE_API_URL's)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from starters.api.app import create_app, openapi_document
    from starters.api.openapi import dumps

    if args.action == "openapi":
        sys.stdout.write(dumps(openapi_document()))
        return 0
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"backoffice api: {exc}", file=sys.stderr)
        return 2
    engine = make_engine(settings.resolved_database_url)
    try:  # before serving: a schema that is behind is one line and exit 2, not a traceback
        require_current_schema(engine)
    except DatabaseNotReady as exc:
        print(f"backoffice api: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        engine.dispose()
    try:
        telemetry = start_telemetry(Service.API, settings)  # its metrics endpoint opens here
    except TelemetryError as exc:
        print(f"backoffice api: {exc}", file=sys.stderr)
        return 2
    where = urlsplit(settings.api_url)
    host = args.host or where.hostname or "127.0.0.1"
    port = args.port if args.port is not None else (where.port or 8000)
    configure_logging(settings, service="api")
    try:
        uvicorn.run(
            create_app(settings, telemetry),
            host=host,
            port=port,
            log_config=None,  # uvicorn's loggers go through configure_logging's handler
            log_level=settings.log_level.lower(),
            server_header=False,
            http=StagedCloseProtocol,  # a request it cannot parse gets its answer
            h11_max_incomplete_event_size=HEAD_LIMIT_BYTES,
        )
    finally:
        telemetry.shutdown()  # its last spans: the process then exits without teardown
    return 0
