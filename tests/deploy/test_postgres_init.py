"""deploy/postgres/init-databases.sh, for real: run on a fresh PostgreSQL as the official
image runs its init scripts, then every component logs in over TCP with its own password
(password authentication on) and finds what it needs."""

import os
import subprocess
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from tests.deploy.compose import ROOT
from tests.postgres import SERVER_USER, PostgresServer, PostgresUnavailable

SCRIPT = ROOT / "deploy" / "postgres" / "init-databases.sh"
PASSWORDS = {
    "TEMPORAL_DB_PASSWORD": "temporalpw1",
    "BACKOFFICE_DB_PASSWORD": "backofficepw2",
}


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    """A fresh server of its own (the roles are cluster-wide: not the session's server)."""
    try:
        fresh = PostgresServer()
        fresh.start()
    except PostgresUnavailable as exc:
        pytest.fail(f"the test PostgreSQL server did not start:\n{exc}", pytrace=False)
    try:
        done = subprocess.run(
            ["/bin/sh", str(SCRIPT)],
            env={
                "PATH": f"{fresh.bin_dir}:{os.environ.get('PATH', '')}",
                "PGHOST": "127.0.0.1",
                "PGPORT": str(fresh.port),
                "POSTGRES_USER": SERVER_USER,
                **PASSWORDS,
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        # From now on a TCP login needs its password, as in the image.
        (fresh.data_dir / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
        )
        fresh._run("pg_ctl", "-D", str(fresh.data_dir), "reload")
        yield fresh
    finally:
        fresh.stop()


def _url(server: PostgresServer, role: str, password: str, database: str) -> str:
    return f"postgresql+psycopg://{role}:{password}@127.0.0.1:{server.port}/{database}"


def _one(url: str, sql: str, **params: str) -> object:
    """The first column of the first row (None for a statement that returns none)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            result = conn.execute(text(sql), params)
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()


def test_the_app_owns_its_database(server):
    url = _url(server, "backoffice", PASSWORDS["BACKOFFICE_DB_PASSWORD"], "backoffice")
    assert _one(url, "SELECT current_user") == "backoffice"
    owner = _one(
        url, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :db", db="backoffice"
    )
    assert owner == "backoffice"
    _one(url, "CREATE TABLE probe (id int)")  # the owner makes its schema


def test_the_sandbox_has_no_login_here(server):
    """The demo profile's sandbox keeps a SQLite file: nothing of it in the shared database."""
    url = _url(server, "backoffice", PASSWORDS["BACKOFFICE_DB_PASSWORD"], "backoffice")
    assert _one(url, "SELECT count(*) FROM pg_roles WHERE rolname = 'sandbox'") == 0


def test_temporals_role_creates_its_databases(server):
    url = _url(server, "temporal", PASSWORDS["TEMPORAL_DB_PASSWORD"], "postgres")
    _one(url, "CREATE DATABASE temporal")  # what `temporal-sql-tool create` does
    assert _one(url, "SELECT 1 FROM pg_database WHERE datname = 'temporal'") == 1


def test_a_wrong_password_is_refused(server):
    with pytest.raises(OperationalError, match="password authentication failed"):
        _one(
            _url(server, "backoffice", PASSWORDS["TEMPORAL_DB_PASSWORD"], "backoffice"), "SELECT 1"
        )


def test_a_missing_password_stops_the_script_before_any_change(tmp_path):
    env = {"PATH": os.environ.get("PATH", ""), "TEMPORAL_DB_PASSWORD": "x"}
    done = subprocess.run(
        ["/bin/sh", str(SCRIPT)], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode != 0
    assert "set BACKOFFICE_DB_PASSWORD in .env" in done.stderr
