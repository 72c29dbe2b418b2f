"""stripe-mock (Stripe's own mock server, generated from Stripe's OpenAPI spec) for the tests.

A test-only tool: built on the first test run that needs it with `go install` into the ignored
`.tools/bin` (not by `scripts/setup.sh`, so a newcomer's setup stays short), then started once
per run on a free loopback port. It validates every request against Stripe's spec and answers
with fixture objects; it is stateless, so the end-to-end proofs stay on the sandbox.
"""

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from devstack.paths import tools_bin_dir
from tests.servers import free_port, running

MODULE = "github.com/stripe/stripe-mock"
VERSION = "v0.203.0"
BUILD_TIMEOUT_SECONDS = 900
START_TIMEOUT_SECONDS = 30
# stripe-mock accepts any key of this shape; it never sees a real one.
TEST_KEY = "sk_test_123"


class StripeMockUnavailable(Exception):
    """stripe-mock could not be found, built or started; the message says what to install."""


def stripe_mock_binary() -> Path:
    """`$STRIPE_MOCK`, else `.tools/bin/stripe-mock`, built there with Go when missing."""
    configured = os.environ.get("STRIPE_MOCK")
    if configured:
        return Path(configured)
    built = tools_bin_dir() / "stripe-mock"
    if built.is_file() and os.access(built, os.X_OK):
        return built
    go = shutil.which("go")
    if go is None:
        raise StripeMockUnavailable(
            "the billing contract tests need stripe-mock: install Go (https://go.dev/dl/) so the "
            f"tests can build it (`go install {MODULE}@{VERSION}` into {tools_bin_dir()}), or "
            "set STRIPE_MOCK=/path/to/stripe-mock"
        )
    built.parent.mkdir(parents=True, exist_ok=True)
    argv = [go, "install", f"{MODULE}@{VERSION}"]
    result = subprocess.run(
        argv,
        env={**os.environ, "GOBIN": str(built.parent)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0 or not built.is_file():
        tail = "\n".join(result.stdout.strip().splitlines()[-10:])
        raise StripeMockUnavailable(
            f"`{' '.join(argv)}` failed (exit {result.returncode}):\n{tail}"
        )
    return built


@contextmanager
def running_stripe_mock(log_file: Path) -> Iterator[str]:
    """Start stripe-mock on a free loopback port; yields its base URL, stops it at the end."""
    binary = stripe_mock_binary()
    port, tls_port = free_port(), free_port()
    # Both listeners on free loopback ports: left alone, HTTPS takes the fixed port 12112.
    argv = [str(binary), "-http-addr", f"127.0.0.1:{port}", "-https-addr", f"127.0.0.1:{tls_port}"]
    base_url = f"http://127.0.0.1:{port}"
    with running(argv, log_file, lambda process: _wait_ready(process, base_url, log_file)):
        yield base_url


def _wait_ready(process: subprocess.Popen[bytes], base_url: str, log_file: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StripeMockUnavailable(
                f"stripe-mock exited with {process.returncode}; its log: {log_file}"
            )
        try:
            httpx.get(
                f"{base_url}/v1/customers", headers={"Authorization": f"Bearer {TEST_KEY}"}
            ).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise StripeMockUnavailable(
        f"stripe-mock did not answer within {START_TIMEOUT_SECONDS} s; its log: {log_file}"
    )
