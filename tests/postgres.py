"""A throwaway PostgreSQL server for one test run: Debian's server binaries, a temp dir, a free
loopback port, trust authentication on loopback only; stopped and deleted at the end.

PostgreSQL refuses to run as root, so under root the server runs as the `postgres` OS user
that Debian's package creates (and the temp dir is handed to it).
"""

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.reaper import OWNER_ENV, OWNER_FILE, POSTGRES_PREFIX

SERVER_USER = "postgres"  # the OS user under root, and the database superuser's name always
INSTALL_HINT = (
    "run `bash scripts/setup.sh` (it installs Debian's `postgresql`), "
    "or: apt-get install -y postgresql"
)
_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresUnavailable(Exception):
    """The test PostgreSQL server cannot start; the message says what to install or fix."""


def find_bin_dir() -> Path:
    """The newest `/usr/lib/postgresql/<version>/bin` holding `initdb` and `pg_ctl`."""
    candidates = [
        path.parent
        for path in Path("/usr/lib/postgresql").glob("*/bin/initdb")
        if (path.parent / "pg_ctl").is_file()
    ]
    if not candidates:
        raise PostgresUnavailable(
            "PostgreSQL's server binaries are missing (no /usr/lib/postgresql/<version>/bin/"
            f"initdb): {INSTALL_HINT}"
        )
    return max(candidates, key=lambda path: _version(path.parent.name))


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """One server in its own temp dir; `start()`, `create_database()`, `url()`, `stop()`."""

    def __init__(self) -> None:
        self.bin_dir = find_bin_dir()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix=POSTGRES_PREFIX))
        if owner := os.environ.get(OWNER_ENV):
            # Its postmaster overwrites its environment: the reaper finds it by this file.
            (self.root / OWNER_FILE).write_text(owner)
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log_file = self.root / "postgres.log"
        self._as_user: list[str] = []
        self._started = False

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of `database` on this server (no password: trust on loopback)."""
        return f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        try:
            self._hand_over_to_server_user()
            data = ["-D", str(self.data_dir)]
            self._run("initdb", *data, "-U", SERVER_USER, "-E", "UTF8", "--locale=C", "--no-sync")
            # Trust, but on loopback only (the server listens on 127.0.0.1 and its socket dir).
            (self.data_dir / "pg_hba.conf").write_text(
                "local all all trust\nhost all all 127.0.0.1/32 trust\n"
            )
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket_dir} "
                # A throwaway database: durability buys nothing here, speed does.
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=300"
            )
            log = ["-l", str(self.log_file)]
            self._run("pg_ctl", *data, *log, "-o", options, "-w", "-t", "60", "start")
            self._started = True
        except BaseException:
            self.stop()
            raise

    def create_database(self, name: str) -> str:
        """Create an empty database; returns its URL."""
        if not _DATABASE_NAME.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        engine = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its temp dir."""
        if self._started:
            self._started = False
            pg_ctl = str(self.bin_dir / "pg_ctl")
            subprocess.run(
                [*self._as_user, pg_ctl, "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
                cwd=self.root,
                capture_output=True,
                check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)

    def _hand_over_to_server_user(self) -> None:
        self.socket_dir.mkdir()
        if os.geteuid() != 0:
            return
        try:
            user = pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise PostgresUnavailable(
                f"running as root, but there is no `{SERVER_USER}` OS user to run PostgreSQL "
                f"as (it refuses root): {INSTALL_HINT}"
            ) from None
        for path in (self.root, self.socket_dir):
            os.chown(path, user.pw_uid, user.pw_gid)
        self._as_user = ["runuser", "-u", SERVER_USER, "--"]

    def _run(self, tool: str, *args: str) -> None:
        command = [*self._as_user, str(self.bin_dir / tool), *args]
        done = subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            log = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
            raise PostgresUnavailable(
                f"`{' '.join(command)}` failed (exit {done.returncode}):\n"
                f"{done.stdout}{done.stderr}{log}\n"
                f"Is PostgreSQL installed? {INSTALL_HINT}"
            )
