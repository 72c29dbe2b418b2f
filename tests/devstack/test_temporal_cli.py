"""Where the Temporal CLI comes from: $TEMPORAL_CLI, PATH, .tools/bin, `go install`, the SDK."""

import stat

import pytest

from devstack import temporal_cli
from devstack.errors import StackError
from devstack.temporal_cli import TemporalCliNotFound, find_temporal_cli

# Fails like an offline checksum database unless GOSUMDB=off, then "builds" a CLI into $GOBIN.
FAKE_GO = """#!/bin/sh
if [ "$GOSUMDB" != "off" ]; then
  echo "verifying github.com/temporalio/cli@v1.5.1: checksum database: dial tcp: timeout" >&2
  exit 1
fi
echo "$@" > "$GOBIN/go-args"
printf '#!/bin/sh\\necho built\\n' > "$GOBIN/temporal"
/bin/chmod +x "$GOBIN/temporal"
"""


def _script(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def tools(tmp_path, monkeypatch):
    """An empty project tools folder, an empty PATH, no $TEMPORAL_CLI."""
    folder = tmp_path / "tools"
    monkeypatch.setattr(temporal_cli, "tools_bin_dir", lambda: folder)
    monkeypatch.delenv("TEMPORAL_CLI", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    return folder


def test_lookup_order(tmp_path, tools, monkeypatch):
    local = _script(tools / "temporal", "#!/bin/sh\n")
    assert find_temporal_cli() == local
    on_path = _script(tmp_path / "bin" / "temporal", "#!/bin/sh\n")
    assert find_temporal_cli() == on_path
    explicit = _script(tmp_path / "explicit" / "temporal", "#!/bin/sh\n")
    monkeypatch.setenv("TEMPORAL_CLI", str(explicit))
    assert find_temporal_cli() == explicit


def test_go_install_retries_without_the_checksum_database(tmp_path, tools):
    _script(tmp_path / "bin" / "go", FAKE_GO)
    said: list[str] = []

    built = find_temporal_cli(said.append)

    assert built == tools / "temporal"
    args = (tools / "go-args").read_text().split()
    assert args == ["install", "github.com/temporalio/cli/cmd/temporal@v1.5.1"]
    assert any("GOSUMDB=off" in line for line in said)


def test_nothing_works_says_what_to_install(tmp_path, tools, monkeypatch):
    def offline(say):
        raise StackError("the Temporal SDK could not download the CLI: no route to host")

    monkeypatch.setattr(temporal_cli, "download_with_sdk", offline)
    with pytest.raises(TemporalCliNotFound) as raised:
        find_temporal_cli(lambda message: None)
    message = str(raised.value)
    assert "Go is not on PATH" in message and "no route to host" in message
    assert "Install the Temporal CLI" in message and "TEMPORAL_CLI" in message
