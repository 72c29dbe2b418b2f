"""``python -m sandbox``: serve the sandbox over HTTP with uvicorn."""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn

from sandbox.app import create_app

DEFAULT_DATABASE_URL = "sqlite:///.data/sandbox.db"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox", description="Serve the stand-in external systems."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8400)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("SANDBOX_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="SQLAlchemy URL (env SANDBOX_DATABASE_URL; default %(default)s)",
    )
    parser.add_argument(
        "--admin-token",
        default=os.environ.get("SANDBOX_ADMIN_TOKEN"),
        help="required in X-Admin-Token on /_admin (env SANDBOX_ADMIN_TOKEN; default: none)",
    )
    parser.add_argument("--log-level", default="info")
    return parser.parse_args()


def main() -> None:
    arguments = _arguments()
    logging.basicConfig(
        level=arguments.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    app = create_app(arguments.database_url, arguments.admin_token)
    uvicorn.run(app, host=arguments.host, port=arguments.port, log_level=arguments.log_level)


if __name__ == "__main__":
    main()
