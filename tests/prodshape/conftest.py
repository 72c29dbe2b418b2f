"""The production shape without containers (deploy/local.py), started once for the tests of
tests/prodshape: PostgreSQL from Debian, temporal-server on it, OpenBao in server mode, the Web UI
server, two workers, the API and the sandbox, initialised by docker-compose.yml's own steps.

A component that cannot start is a test ERROR whose message says what is wrong; never a skip."""

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest
from dotenv import dotenv_values

from deploy.local import LocalShape, LocalShapeError
from devstack.process import pid_is_running
from tests import reaper

REAPER_LINK = "reaper-entry"


class ShapeView:
    """What the demo's drivers (backoffice.demo_runs, devstack.crm_seed) read of a stack, from
    the production shape: its API, its sandbox, the seeded API credentials, a worker's log, and
    Vault as the worker's AppRole (the root token is revoked there)."""

    def __init__(self, shape: LocalShape) -> None:
        self.shape = shape
        self.api_url = shape.api_url
        self.sandbox_url = shape.sandbox_url
        self.mailpit_url = shape.mailpit_url

    def credentials(self) -> dict[str, Any]:
        path = self.shape.layout.data_dir / "vault-init" / "credentials.json"
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded

    def worker_log_path(self) -> Path:
        return self.shape.layout.log("worker-1")

    def vault_root(self) -> hvac.Client:
        login = dotenv_values(self.shape.layout.role_env("worker"))
        client = hvac.Client(url=self.shape.vault_addr)
        client.auth.approle.login(
            role_id=login["BACKOFFICE_VAULT_ROLE_ID"], secret_id=login["BACKOFFICE_VAULT_SECRET_ID"]
        )
        return client


def traversable_dir() -> Path:
    """A new folder that Debian's `postgres` OS user may reach (pytest's own temp folders are
    private to the user running the tests, and PostgreSQL refuses to run as root). Its
    `shape/` is the data dir; the reaper (tests/reaper.py) finds the PostgreSQL server that will
    run there, should this run end without stopping it."""
    folder = Path(tempfile.mkdtemp(prefix="backoffice-prodshape-"))
    folder.chmod(0o755)
    if owner := os.environ.get(reaper.OWNER_ENV):
        entry = Path(tempfile.mkdtemp(prefix=reaper.POSTGRES_PREFIX))
        (entry / reaper.OWNER_FILE).write_text(owner)
        (entry / "data").symlink_to(folder / "shape" / "postgresql" / "data")
        (folder / REAPER_LINK).symlink_to(entry)
    return folder


def remove(folder: Path) -> None:
    """Delete a folder of traversable_dir() and its entry for the reaper."""
    if (folder / REAPER_LINK).is_symlink():
        shutil.rmtree((folder / REAPER_LINK).resolve(), ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def shape_dir() -> Iterator[Path]:
    """A data dir of the test's own, deleted afterwards."""
    folder = traversable_dir()
    yield folder / "shape"
    remove(folder)


@pytest.fixture(scope="module")
def shape() -> Iterator[LocalShape]:
    """The stack, up for one test module; `down` at the end leaves nothing running."""
    folder = traversable_dir()
    started = LocalShape(folder / "shape", say=lambda line: print(line, flush=True))
    try:
        started.up()
    except LocalShapeError as exc:
        started.down()
        remove(folder)
        pytest.fail(f"the production shape did not start: {exc}", pytrace=False)
    try:
        yield started
    finally:
        before = started_pids(started)
        started.down()
        assert [pid for pid in before if pid_is_running(pid)] == [], "`down` left these running"
        remove(folder)


@pytest.fixture(autouse=True)
def shape_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test on the shape runs in the API's environment, as a CLI on the same host would
    (for this test only: the rest of the suite talks to its own stack)."""
    if "shape" not in request.fixturenames and "view" not in request.fixturenames:
        return
    started: LocalShape = request.getfixturevalue("shape")
    for key, value in started.client_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("BACKOFFICE_SANDBOX_ADMIN_TOKEN", started.secrets()["SANDBOX_ADMIN_TOKEN"])
    monkeypatch.setenv("BACKOFFICE_MAILPIT_URL", started.mailpit_url)


def started_pids(shape: LocalShape) -> list[int]:
    """Every process of the shape now: those it started, and PostgreSQL's postmaster."""
    pids = [p.pid for name in shape.status() if (p := shape.process(name)) and p.is_running()]
    postmaster = shape.layout.data_dir / "postgresql" / "data" / "postmaster.pid"
    if postmaster.is_file():
        pids.append(int(postmaster.read_text().split()[0]))
    return pids


@pytest.fixture(scope="module")
def view(shape: LocalShape) -> ShapeView:
    return ShapeView(shape)
