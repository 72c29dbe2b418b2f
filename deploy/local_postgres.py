"""PostgreSQL from Debian for the production shape without containers: one cluster in a data
dir, on a loopback port, password authentication over TCP (as the official image sets it up),
initialised once by the compose file's own deploy/postgres/init-databases.sh.

PostgreSQL refuses to run as root: under root it runs as Debian's `postgres` OS user."""

import os
import pwd
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

from devstack.paths import project_root

INIT_SCRIPT = project_root() / "deploy" / "postgres" / "init-databases.sh"
SUPERUSER = "postgres"
INSTALL_HINT = "apt-get install postgresql (Debian's PostgreSQL 15 or newer)"


def _without_stack_settings(env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without libpq's or any stack's settings, plus `env`."""
    prefixes = ("BACKOFFICE_", "TEMPORAL_", "PG")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(prefixes)}, **env}


class PostgresProblem(Exception):
    """PostgreSQL cannot be set up or started; the message says what to do."""


def find_bin_dir(override: str | None = None) -> Path:
    """$BACKOFFICE_LOCAL_PG_BIN, else the newest /usr/lib/postgresql/<version>/bin."""
    if override:
        folder = Path(override)
        if not (folder / "initdb").is_file() or not (folder / "pg_ctl").is_file():
            raise PostgresProblem(
                f"PostgreSQL's server binaries are missing: no initdb/pg_ctl in {folder} "
                f"(BACKOFFICE_LOCAL_PG_BIN): point it at /usr/lib/postgresql/<version>/bin, "
                f"or {INSTALL_HINT}"
            )
        return folder
    found = sorted(
        (path.parent for path in Path("/usr/lib/postgresql").glob("*/bin/initdb")),
        key=lambda path: [int(n) for n in re.findall(r"\d+", path.parent.name)],
    )
    if not found:
        raise PostgresProblem(
            f"PostgreSQL's server binaries are missing (/usr/lib/postgresql/*/bin): {INSTALL_HINT}"
        )
    return found[-1]


class LocalPostgres:
    """The cluster in `root` (data/, socket/, postgres.log), listening on 127.0.0.1:`port`."""

    def __init__(self, root: Path, port: int, bin_dir: Path) -> None:
        self.root = root
        self.port = port
        self.bin_dir = bin_dir
        self.data_dir = root / "data"
        self.socket_dir = root / "socket"
        self.log_file = root / "postgres.log"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            self._as_user = ["runuser", "-u", SUPERUSER, "--"]

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def init(self, superuser_password: str) -> None:
        """initdb with the superuser's password, host logins by password (scram-sha-256)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        password_file = self.root / "initdb-password"
        password_file.write_text(superuser_password + "\n")
        self._hand_over(self.root, self.socket_dir, password_file)
        self._check_reachable()
        try:
            self._run(
                "initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "-E", "UTF8",
                "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256",
                f"--pwfile={password_file}",
            )  # fmt: skip
        finally:
            password_file.unlink(missing_ok=True)

    def run_init_script(self, passwords: Mapping[str, str]) -> None:
        """deploy/postgres/init-databases.sh over the local socket, as the image runs it."""
        env = _without_stack_settings(
            {
                "PATH": f"{self.bin_dir}:{os.environ.get('PATH', '')}",
                "PGHOST": str(self.socket_dir),
                "PGPORT": str(self.port),
                "POSTGRES_USER": SUPERUSER,
                **passwords,
            }
        )
        done = subprocess.run(
            ["/bin/sh", str(INIT_SCRIPT)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise PostgresProblem(
                f"deploy/postgres/init-databases.sh failed: {done.stderr.strip()[-300:]}"
            )

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket_dir}"
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options,
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self) -> None:
        if self.is_running():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def is_running(self) -> bool:
        if not self.initialised:
            return False
        done = subprocess.run(
            [*self._as_user, str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "status"],
            capture_output=True,
            check=False,
        )
        return done.returncode == 0

    def _hand_over(self, *paths: Path) -> None:
        if not self._as_user:
            return
        try:
            user = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise PostgresProblem(
                f"running as root, but there is no `{SUPERUSER}` OS user to run PostgreSQL as "
                f"(it refuses root): {INSTALL_HINT}"
            ) from None
        for path in paths:
            os.chown(path, user.pw_uid, user.pw_gid)

    def _check_reachable(self) -> None:
        """Under root, the `postgres` OS user must be able to reach the data dir."""
        if (
            self._as_user
            and subprocess.run([*self._as_user, "test", "-x", str(self.root)]).returncode
        ):
            raise PostgresProblem(
                f"the `{SUPERUSER}` OS user that runs PostgreSQL cannot reach {self.root} (a "
                "parent folder is private to root): choose a data dir every user may traverse"
            )

    def _run(self, tool: str, *args: str) -> None:
        command = [*self._as_user, str(self.bin_dir / tool), *args]
        done = subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise PostgresProblem(
                f"`{tool} {args[-1]}` failed (exit {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-300:]} (log: {self.log_file})"
            )
