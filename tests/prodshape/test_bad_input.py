"""Bad input to `backoffice deploy local up`: a missing binary, a PostgreSQL that refuses the
password, a Temporal schema that is behind the server, a Vault initialised by someone else (sealed,
no unseal key), a namespace without the search attributes. Each stops `up` with one line naming
what is wrong and what to do, and leaves nothing running."""

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest

from deploy.local import LocalShape, probe_http
from devstack.process import spawn, stop
from devstack.vault_server import find_bao
from tests.prodshape.conftest import remove, started_pids, traversable_dir

pytestmark = pytest.mark.timeout(600)


def _up(data_dir: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **environ}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "backoffice.cli",
            "deploy",
            "local",
            "up",
            "--data-dir",
            str(data_dir),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
    )


def _refused(done: subprocess.CompletedProcess[str], *phrases: str) -> str:
    """The one line on stderr, holding every phrase."""
    assert done.returncode == 1, done.stdout + done.stderr
    line = done.stderr.strip()
    assert "\n" not in line, line
    for phrase in phrases:
        assert phrase in line, line
    return line


def _nothing_left(data_dir: Path, environ: dict[str, str] | None = None) -> None:
    shape = LocalShape(data_dir, environ={**os.environ, **(environ or {})})
    assert started_pids(shape) == [], shape.status()


def test_a_missing_temporal_binary_stops_up_before_anything_starts(tmp_path, shape_dir):
    tools = tmp_path / "tools"
    tools.mkdir()
    done = _up(shape_dir, BACKOFFICE_LOCAL_TOOLS=str(tools))
    _refused(done, "temporal-server is missing", "scripts/prod-tools.sh")
    _nothing_left(shape_dir, {"BACKOFFICE_LOCAL_TOOLS": str(tools)})


def test_missing_postgresql_binaries_stop_up_and_leave_nothing_running(tmp_path, shape_dir):
    empty = tmp_path / "no-postgres"
    empty.mkdir()
    done = _up(shape_dir, BACKOFFICE_LOCAL_PG_BIN=str(empty))
    _refused(done, "PostgreSQL's server binaries are missing", "BACKOFFICE_LOCAL_PG_BIN")
    # The sandbox and Vault it had started are stopped again.
    _nothing_left(shape_dir)


def test_a_password_postgresql_refuses_stops_up_naming_the_setting(shape_dir):
    data_dir = shape_dir
    first = LocalShape(data_dir)
    postgres = first.postgres
    postgres.init("superuser-password-of-this-test")
    postgres.start()
    try:
        postgres.run_init_script(
            {
                "TEMPORAL_DB_PASSWORD": "temporal-password-set-at-init-1",
                "BACKOFFICE_DB_PASSWORD": "backoffice-password-set-at-init",
            }
        )
    finally:
        postgres.stop()
    done = _up(
        data_dir,
        TEMPORAL_DB_PASSWORD="temporal-password-changed-since-2",
        BACKOFFICE_DB_PASSWORD="backoffice-password-set-at-init",
    )
    line = _refused(
        done, "PostgreSQL refused the password of role temporal", "TEMPORAL_DB_PASSWORD"
    )
    assert "temporal-password" not in line, "the password itself is never shown"
    _nothing_left(data_dir)


def test_a_vault_initialised_elsewhere_stays_sealed_and_stops_up(tmp_path, shape_dir):
    data_dir = shape_dir
    shape = LocalShape(data_dir)
    data_dir.mkdir()
    # Someone initialised this Vault and kept the key: sealed, and no unseal key here.
    config = shape.vault_config()
    vault = spawn(
        "vault",
        [str(find_bao()), "server", f"-config={config}"],
        log_file=tmp_path / "vault.log",
        env={"PATH": os.environ.get("PATH", "")},
        cwd=tmp_path,
    )
    try:
        client = hvac.Client(url=shape.vault_addr)
        deadline = time.monotonic() + 30
        while _probe_vault(shape) is not None and time.monotonic() < deadline:
            time.sleep(0.3)
        client.sys.initialize(secret_shares=1, secret_threshold=1)
    finally:
        stop(vault, timeout=20)
    done = _up(data_dir)
    _refused(done, "vault-init failed", "is initialised, but not by this step")
    _nothing_left(data_dir)


def _probe_vault(shape: LocalShape) -> str | None:
    return probe_http(f"{shape.vault_addr}/v1/sys/health?uninitcode=200&sealedcode=200")


@pytest.fixture(scope="module")
def temporal_data_dir() -> Iterator[Path]:
    """One data dir for the two Temporal cases: the second finds the first's database."""
    folder = traversable_dir()
    yield folder / "shape"
    LocalShape(folder / "shape").down()
    remove(folder)


def test_a_temporal_schema_behind_the_server_stops_up(temporal_data_dir, tmp_path):
    shape = LocalShape(temporal_data_dir)
    behind = tmp_path / "schema"
    shutil.copytree(shape.schema_dir(), behind)
    versions = sorted(
        (behind / "temporal" / "versioned").iterdir(),
        key=lambda p: tuple(int(n) for n in p.name.removeprefix("v").split(".")),
    )
    shutil.rmtree(versions[-1])  # the newest step of the main database's schema is missing
    done = _up(temporal_data_dir, TEMPORAL_SCHEMA_DIR=str(behind))
    _refused(done, "Temporal's schema is behind temporal-server", "setup-schema.sh")
    _nothing_left(temporal_data_dir)


def test_a_namespace_without_the_search_attributes_stops_up(temporal_data_dir, tmp_path):
    none = tmp_path / "no-attributes"
    none.write_text("# none registered\n")
    done = _up(temporal_data_dir, SEARCH_ATTRIBUTES_FILE=str(none))
    _refused(done, "lacks the search attributes", "init-namespace.sh")
    _nothing_left(temporal_data_dir)
