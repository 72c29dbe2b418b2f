"""The Temporal Web UI, run as its own component (the UI server of `temporalio/ui-server`, the
one the Temporal CLI embeds): finding or building it, its config file, its command line, and
when it counts as ready.

Run apart from the dev server because the dev server's embedded UI can be told only the codec
endpoint; this one is also told to send its codec requests with credentials (the session cookie
the one-time sign-in link sets), so a person sees decoded payloads with no manual step.

Found as $TEMPORAL_UI_SERVER, else `.tools/ui/server`, else `go install` into `.tools/ui/` (a
GOBIN of its own: the binary is named `server`).
"""

import json
from collections.abc import Callable
from pathlib import Path

import httpx

from devstack.errors import StackError
from devstack.paths import project_root
from devstack.temporal_cli import built_with_go, installed

MODULE = "github.com/temporalio/ui-server/v2/cmd/server"
# The version the Temporal CLI (temporal_cli.CLI_VERSION) embeds: after the CLI's build its
# packages are in Go's build cache, so this build takes seconds more, not minutes.
VERSION = "v2.42.1"
BINARY = "server"
ENVIRONMENT = "devstack"  # the config file's name: <config dir>/devstack.yaml
VARIABLE = "TEMPORAL_UI_SERVER"

Say = Callable[[str], None]


def tools_dir() -> Path:
    return project_root() / ".tools" / "ui"


INSTALL_HINT = (
    f"Build it with `GOBIN={tools_dir()} go install {MODULE}@{VERSION}` or set "
    f"{VARIABLE}=/path/to/server; or install Go (https://go.dev/dl/) so the dev stack builds it "
    "(`bash scripts/setup.sh` does)."
)


class TemporalUiNotFound(StackError):
    """No Temporal UI server could be found or built; says what to install."""


def find_ui_server(say: Say = print) -> Path:
    """The UI server binary to run: $TEMPORAL_UI_SERVER, the project's build, or a new build
    (not looked for on PATH: a binary named `server` there is anything)."""
    found = installed(
        VARIABLE, BINARY, TemporalUiNotFound, INSTALL_HINT, folder=tools_dir(), search_path=False
    )
    if found is not None:
        return found
    return built_with_go(
        f"{MODULE}@{VERSION}",
        BINARY,
        TemporalUiNotFound,
        INSTALL_HINT,
        say,
        takes="~1 minute after the Temporal CLI's build",
        folder=tools_dir(),
    )


def write_config(
    config_dir: Path,
    *,
    host: str,
    port: int,
    temporal_address: str,
    namespace: str,
    codec_endpoint: str,
    include_credentials: bool = True,
    write_actions: bool = True,
) -> Path:
    """The UI server's config file (JSON, which its YAML loader reads) in `config_dir`.
    Write actions are on in the dev stack; the production shape turns them off as its compose
    service does."""
    ui_url = f"http://{host}:{port}"
    config = {
        "temporalGrpcAddress": temporal_address,
        "host": host,
        "port": port,
        "enableUi": True,
        "defaultNamespace": namespace,
        "notifyOnNewVersion": False,
        # The codec gets the browser's session cookie (SameSite: the API is on the same host).
        "codec": {"endpoint": codec_endpoint, "includeCredentials": include_credentials},
        # The UI's own CSRF cookie, over plain HTTP on loopback.
        "cors": {"cookieInsecure": True, "allowOrigins": [ui_url]},
        # As the dev server's own UI: cancel, terminate, signal, reset from the UI (dev only).
        "disableWriteActions": not write_actions,
        "hideLogs": True,
    }
    config_dir.mkdir(parents=True, exist_ok=True)
    path = config_dir / f"{ENVIRONMENT}.yaml"
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def server_command(binary: Path, config_dir: Path) -> list[str]:
    """`server start` reading `<config_dir>/devstack.yaml`."""
    return [
        str(binary),
        "--root", str(config_dir.parent),
        "--config", config_dir.name,
        "--env", ENVIRONMENT,
        "start",
    ]  # fmt: skip


def probe(url: str) -> str | None:
    """None when the UI server answers its settings (what the browser app reads first)."""
    try:
        response = httpx.get(f"{url}/api/v1/settings", timeout=2.0, trust_env=False)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if response.status_code == 200 else f"settings answered {response.status_code}"
