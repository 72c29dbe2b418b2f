"""OpenBao in server mode on file storage: its config file, init, unseal and seal.

The storage is OpenBao's integrated storage (`raft`, one node), which keeps its data in files
under the stack's data dir (OpenBao has no plain `file` backend). Unlike dev mode, such a Vault
keeps its secrets across a restart and starts sealed; the stack
initializes it once (one unseal key share, kept with the root token in the 0600 state file) and
unseals it after every start. The reliability suite seals, stops and restarts it on purpose.
"""

from pathlib import Path

import httpx

from devstack.errors import StackError
from devstack.state import write_private

# The config names nothing secret: keys and tokens come from `bao operator init`.
_CONFIG = """# Written by the dev stack: OpenBao on file storage, loopback only.
storage "raft" {{
  path = "{storage}"
  node_id = "devstack"
}}
listener "tcp" {{
  address = "{host}:{port}"
  cluster_address = "{host}:{cluster_port}"
  tls_disable = true
}}
api_addr = "http://{host}:{port}"
cluster_addr = "http://{host}:{cluster_port}"
ui = false
# Every request and answer, secrets HMAC-ed: who logged in when (the fault suite counts logins).
audit "file" "devstack" {{
  options {{
    file_path = "{audit_log}"
  }}
}}
"""


def write_config(
    config_file: Path, storage_dir: Path, audit_log: Path, *, host: str, port: int
) -> Path:
    """The server's HCL config (file storage in `storage_dir`, plain HTTP on loopback, an audit
    log in `audit_log`)."""
    storage_dir.mkdir(parents=True, exist_ok=True)
    storage_dir.chmod(0o700)
    text = _CONFIG.format(
        storage=storage_dir, host=host, port=port, cluster_port=port + 1, audit_log=audit_log
    )
    write_private(config_file, text)
    return config_file


def server_command(bao: Path, config_file: Path) -> list[str]:
    return [str(bao), "server", f"-config={config_file}"]


def health(addr: str) -> int | None:
    """The HTTP status of /v1/sys/health (200 active, 501 not initialized, 503 sealed), None when
    nothing answers."""
    try:
        response = httpx.get(f"{addr}/v1/sys/health", timeout=2.0, trust_env=False)
    except httpx.HTTPError:
        return None
    return response.status_code


def listening(addr: str) -> str | None:
    """None once the server answers at all (sealed or not initialized counts)."""
    return None if health(addr) is not None else "no answer on its listener yet"


def initialize(addr: str) -> tuple[str, str]:
    """`operator init` with a single key share: (unseal key, root token)."""
    response = _put(addr, "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})
    body = response.json()
    return str(body["keys_base64"][0]), str(body["root_token"])


def is_initialized(addr: str) -> bool:
    response = httpx.get(f"{addr}/v1/sys/init", timeout=5.0, trust_env=False)
    response.raise_for_status()
    return bool(response.json()["initialized"])


def unseal(addr: str, key: str) -> None:
    """Submit the unseal key; raise when Vault stays sealed."""
    body = _put(addr, "/v1/sys/unseal", {"key": key}).json()
    if body.get("sealed", True):
        raise StackError("vault: still sealed after the unseal key was submitted")


def seal(addr: str, root_token: str) -> None:
    _put(addr, "/v1/sys/seal", None, token=root_token)


def is_sealed(addr: str) -> bool:
    response = httpx.get(f"{addr}/v1/sys/seal-status", timeout=5.0, trust_env=False)
    response.raise_for_status()
    return bool(response.json()["sealed"])


def _put(addr: str, path: str, body: object, *, token: str | None = None) -> httpx.Response:
    headers = {"X-Vault-Token": token} if token else {}
    try:
        # Init and unseal write to the raft log (fsync): slow on a busy disk.
        response = httpx.put(
            f"{addr}{path}", json=body, headers=headers, timeout=90.0, trust_env=False
        )
    except httpx.HTTPError as exc:
        raise StackError(f"vault: {path} failed ({type(exc).__name__})") from None
    if not response.is_success:
        raise StackError(f"vault: {path} answered {response.status_code}")
    return response
