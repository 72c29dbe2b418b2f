"""Prism (Stoplight's validating mock server, `@stoplight/prism-cli` from npm) for the Slack
contract test.

A test-only tool: installed on the first test run that needs it with `npm install` into the
ignored `.tools/prism`, then started on a free loopback port with Slack's published OpenAPI
document (specs/slack/). Every request it gets is checked against that document; the
violations come back in its `sl-violations` answer header.
"""

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from devstack.paths import tools_bin_dir
from tests.servers import free_port, running

PACKAGE = "@stoplight/prism-cli"
VERSION = "5.16.0"
INSTALL_TIMEOUT_SECONDS = 900
START_TIMEOUT_SECONDS = 120  # it reads a 1 MB document first


class PrismUnavailable(Exception):
    """Prism could not be found, installed or started; the message says what to install."""


def prism_binary() -> Path:
    """`$PRISM_CLI`, else `.tools/prism/node_modules/.bin/prism`, installed there with npm."""
    configured = os.environ.get("PRISM_CLI")
    if configured:
        return Path(configured)
    prefix = tools_bin_dir().parent / "prism"
    installed = prefix / "node_modules" / ".bin" / "prism"
    if installed.is_file() and os.access(installed, os.X_OK):
        return installed
    npm = shutil.which("npm")
    if npm is None:
        raise PrismUnavailable(
            "the Slack contract test needs Prism: install Node.js and npm (Debian: `apt-get "
            f"install npm`) so the test can install it (`npm install {PACKAGE}@{VERSION}` into "
            f"{prefix}), or set PRISM_CLI=/path/to/prism"
        )
    prefix.mkdir(parents=True, exist_ok=True)
    argv = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund"]
    argv.append(f"{PACKAGE}@{VERSION}")
    result = subprocess.run(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=INSTALL_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0 or not installed.is_file():
        tail = "\n".join(result.stdout.strip().splitlines()[-10:])
        raise PrismUnavailable(f"`{' '.join(argv)}` failed (exit {result.returncode}):\n{tail}")
    return installed


@contextmanager
def running_prism(spec: Path, log_file: Path) -> Iterator[str]:
    """Prism mocking `spec` on a free loopback port; yields its base URL, stops it at the end."""
    binary = prism_binary()
    port = free_port()
    argv = [str(binary), "mock", "--host", "127.0.0.1", "--port", str(port), str(spec)]
    base_url = f"http://127.0.0.1:{port}"
    with running(argv, log_file, lambda process: _wait_ready(process, base_url, log_file)):
        yield base_url


# One violation as Prism writes it, for a header it cut short ("Too many violations! [...").
_VIOLATION = re.compile(
    r'\{"location":\[([^\]]*)\],"severity":"(\w+)","code":"(\w+)","message":"((?:[^"\\]|\\.)*)"'
)


def violations(response: httpx.Response) -> list[dict[str, Any]]:
    """What Prism found wrong with the request it answered (none: an empty list); what it
    found wrong with its own generated answer is left out."""
    raw = response.headers.get("sl-violations")
    if not raw:
        return []
    try:
        found: list[dict[str, Any]] = json.loads(raw)
    except ValueError:
        found = [
            {
                "location": json.loads(f"[{where}]"),
                "severity": severity,
                "code": code,
                "message": message,
            }
            for where, severity, code, message in _VIOLATION.findall(raw)
        ]
    return [v for v in found if v["location"][:1] == ["request"]]


def _wait_ready(process: subprocess.Popen[bytes], base_url: str, log_file: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PrismUnavailable(f"prism exited with {process.returncode}; its log: {log_file}")
        try:
            httpx.get(f"{base_url}/api.test", timeout=2, trust_env=False)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise PrismUnavailable(
        f"prism did not answer within {START_TIMEOUT_SECONDS} s; its log: {log_file}"
    )
