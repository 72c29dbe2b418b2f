"""Where the Temporal Web UI server comes from ($TEMPORAL_UI_SERVER, .tools/ui, `go install`
into a folder of its own), and the config it is started with."""

import json
import stat

import pytest

from devstack import temporal_ui
from devstack.temporal_ui import TemporalUiNotFound, find_ui_server, server_command, write_config

# "Builds" a UI server into $GOBIN and records its arguments.
FAKE_GO = """#!/bin/sh
echo "$@" > "$GOBIN/go-args"
printf '#!/bin/sh\\n' > "$GOBIN/server"
/bin/chmod +x "$GOBIN/server"
"""


def _script(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def tools(tmp_path, monkeypatch):
    """An empty .tools/ui, a PATH with only a `server` that is not the UI's, no variable."""
    folder = tmp_path / "ui"
    monkeypatch.setattr(temporal_ui, "tools_dir", lambda: folder)
    monkeypatch.delenv(temporal_ui.VARIABLE, raising=False)
    _script(tmp_path / "bin" / "server", "#!/bin/sh\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    return folder


def test_built_with_go_into_its_own_folder_never_taken_from_path(tmp_path, tools, monkeypatch):
    _script(tmp_path / "bin" / "go", FAKE_GO)
    built = find_ui_server(lambda message: None)
    assert built == tools / "server"
    args = (tools / "go-args").read_text().split()
    assert args == ["install", "github.com/temporalio/ui-server/v2/cmd/server@v2.42.1"]
    assert find_ui_server() == built  # found, not built again
    explicit = _script(tmp_path / "explicit" / "ui-server", "#!/bin/sh\n")
    monkeypatch.setenv(temporal_ui.VARIABLE, str(explicit))
    assert find_ui_server() == explicit
    monkeypatch.delenv(temporal_ui.VARIABLE)
    tools.joinpath("server").unlink()
    (tmp_path / "bin" / "go").unlink()
    with pytest.raises(TemporalUiNotFound, match="Go is not on PATH"):
        find_ui_server()


def test_a_bad_variable_is_named(tmp_path, tools, monkeypatch):
    monkeypatch.setenv(temporal_ui.VARIABLE, str(tmp_path / "missing"))
    with pytest.raises(TemporalUiNotFound, match=r"TEMPORAL_UI_SERVER=.*not an executable"):
        find_ui_server()


def test_the_config_sends_codec_requests_with_credentials(tmp_path):
    folder = tmp_path / "devstack" / "temporal-ui"
    path = write_config(
        folder,
        host="127.0.0.1",
        port=8233,
        temporal_address="127.0.0.1:7233",
        namespace="default",
        codec_endpoint="http://127.0.0.1:8000/codec",
    )
    config = json.loads(path.read_text())
    assert config["codec"] == {
        "endpoint": "http://127.0.0.1:8000/codec",
        "includeCredentials": True,
    }
    assert config["cors"]["cookieInsecure"] is True
    assert config["disableWriteActions"] is False
    assert (config["temporalGrpcAddress"], config["port"]) == ("127.0.0.1:7233", 8233)
    argv = server_command(tmp_path / "server", folder)
    assert argv[1:] == ["--root", str(folder.parent), "--config", "temporal-ui", "--env",
                        "devstack", "start"]  # fmt: skip
    assert path == folder / "devstack.yaml"
