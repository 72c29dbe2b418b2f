"""Mailpit, the dev stack's SMTP server (a web UI and a REST API to read what was sent): finding
or building it, its command line, its login file, and when it counts as ready.

Found like the Temporal CLI: $MAILPIT, `mailpit` on PATH, the project's `.tools/bin`, else
`go install` into `.tools/bin` when Go is present.
"""

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path

import httpx

from devstack.errors import StackError
from devstack.paths import tools_bin_dir
from devstack.state import write_private
from devstack.temporal_cli import built_with_go, installed

MODULE = "github.com/axllent/mailpit"
VERSION = "v1.33.1"

INSTALL_HINT = (
    f"Build it with `go install {MODULE}@{VERSION}` (GOBIN={tools_bin_dir()}), put `mailpit` "
    "on PATH or set MAILPIT=/path/to/mailpit; or install Go (https://go.dev/dl/) so the dev "
    "stack builds it (`bash scripts/setup.sh` does)."
)

Say = Callable[[str], None]


class MailpitNotFound(StackError):
    """No mailpit binary could be found or built; says what to install."""


def find_mailpit(say: Say = print) -> Path:
    """The mailpit binary to run, trying every source in order."""
    found = installed("MAILPIT", "mailpit", MailpitNotFound, INSTALL_HINT)
    if found is not None:
        return found
    return built_with_go(
        f"{MODULE}@{VERSION}", "mailpit", MailpitNotFound, INSTALL_HINT, say, takes="~2 minutes"
    )


def server_command(
    binary: Path,
    *,
    host: str,
    smtp_port: int,
    ui_port: int,
    database: Path,
    auth_file: Path,
) -> list[str]:
    """Mailpit on loopback: the mailbox in `database` (kept across restarts, never trimmed),
    SMTP AUTH against `auth_file` (over plain SMTP: loopback only), chaos triggers available
    through its API (the reliability suite's SMTP faults)."""
    return [
        str(binary),
        "--smtp", f"{host}:{smtp_port}",
        "--listen", f"{host}:{ui_port}",
        "--database", str(database),
        "--max", "0",
        "--smtp-auth-file", str(auth_file),
        "--smtp-auth-allow-insecure",
        "--enable-chaos",
        "--disable-version-check",
        "--smtp-disable-rdns",
    ]  # fmt: skip


def write_auth_file(path: Path, username: str, password: str) -> None:
    """The one login mailpit accepts, as an htpasswd line ({SHA}: no plain text on disk)."""
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()  # noqa: S324
    write_private(path, f"{username}:{{SHA}}{digest}\n")


def probe(url: str) -> str | None:
    """None when mailpit's API answers (`GET /readyz`)."""
    try:
        response = httpx.get(f"{url}/readyz", timeout=2.0, trust_env=False)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if response.status_code == 200 else f"readyz answered {response.status_code}"
