"""The backoffice HTTP API as a dev-stack component: its command line and readiness."""

import sys

import httpx


def server_command(*, host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "starters.api", "--host", host, "--port", str(port)]


def url(host: str, port: int) -> str:
    return f"http://{host}:{port}"


def probe(api_url: str) -> str | None:
    """None when GET /healthz answers 200."""
    try:
        response = httpx.get(f"{api_url}/healthz", timeout=2.0, trust_env=False)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if response.status_code == 200 else f"/healthz answered {response.status_code}"
