"""Nothing a test run starts outlives it, however the run ends (Ctrl-C, a timeout, SIGKILL).

Every process a run starts carries the run's owner mark in its environment (`TEST_STACK_OWNER=
<pytest pid>:<its start ticks>`, inherited by the dev stack's components, the CLI's stacks and
the chaos and bench stacks alike); the test PostgreSQL servers, whose postmaster overwrites its
environment with its process title, write the mark into their temp dir. A watchdog process
outside the run's process group waits for the run to end, then stops whatever carries its
mark; and each run, when it starts, stops what runs whose owner is gone left behind (the
watchdog itself may have been killed).

`python -m tests.reaper <pid> <mark>` is the watchdog.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from devstack.process import pid_is_running, start_ticks

OWNER_ENV = "TEST_STACK_OWNER"
# The test PostgreSQL servers' temp dirs (`tests.postgres`), each with an `owner` file.
POSTGRES_PREFIX = "backoffice-postgres-"
OWNER_FILE = "owner"

_watchdog: subprocess.Popen[bytes] | None = None


def mark_of(pid: int) -> str:
    return f"{pid}:{start_ticks(pid)}"


def owner_alive(mark: str) -> bool:
    pid, _, ticks = mark.partition(":")
    try:
        return pid_is_running(int(pid), None if ticks == "None" else int(ticks))
    except ValueError:
        return False


def claim_this_run() -> str:
    """Mark everything this process starts from now on, and start its watchdog."""
    global _watchdog
    mark = mark_of(os.getpid())
    env = {k: v for k, v in os.environ.items() if k != OWNER_ENV}
    _watchdog = subprocess.Popen(
        [sys.executable, "-m", "tests.reaper", str(os.getpid()), mark],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        start_new_session=True,  # Ctrl-C and a signal to the run's group leave it watching
    )
    os.environ[OWNER_ENV] = mark
    return mark


def watchdog_pid() -> int | None:
    """This run's watchdog, once `claim_this_run()` started it."""
    return None if _watchdog is None else _watchdog.pid


def _marks(pid: int) -> Iterator[str]:
    try:
        environ = (Path("/proc") / str(pid) / "environ").read_bytes()
    except OSError:
        return
    prefix = f"{OWNER_ENV}=".encode()
    for entry in environ.split(b"\0"):
        if entry.startswith(prefix):
            yield entry[len(prefix) :].decode(errors="replace")


def _pids() -> Iterator[int]:
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != me:
            yield int(entry.name)


def owned_processes(mark: str) -> list[int]:
    """The live processes that carry `mark` (the PostgreSQL servers not included)."""
    return [pid for pid in _pids() if mark in _marks(pid) and pid_is_running(pid)]


def postgres_dirs(mark: str | None = None) -> list[Path]:
    """The test PostgreSQL temp dirs of `mark` (of every run when None), with their owner."""
    found = []
    for root in Path(tempfile.gettempdir()).glob(f"{POSTGRES_PREFIX}*"):
        try:
            owner = (root / OWNER_FILE).read_text().strip()
        except OSError:
            continue
        if mark is None or owner == mark:
            found.append(root)
    return found


def postmaster_of(root: Path) -> int | None:
    """The pid of the server running in a test PostgreSQL temp dir, None when none runs."""
    try:
        pid = int((root / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_is_running(pid) else None


def _stop(pids: Iterable[int], sig: signal.Signals, timeout: float) -> None:
    """`sig` to each, then SIGKILL to those still up after `timeout`."""
    pending = [pid for pid in pids if _signal(pid, sig)]
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        time.sleep(0.2)
        pending = [pid for pid in pending if pid_is_running(pid)]
    for pid in pending:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: signal.Signals) -> bool:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def reap(mark: str) -> None:
    """Stop every process of the run `mark` and its PostgreSQL servers (deleting their dirs)."""
    _stop(owned_processes(mark), signal.SIGTERM, timeout=10)
    for root in postgres_dirs(mark):
        postmaster = postmaster_of(root)
        # SIGQUIT: PostgreSQL's immediate shutdown (its backends go with it).
        _stop([] if postmaster is None else [postmaster], signal.SIGQUIT, timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def reap_orphans() -> list[str]:
    """Stop what earlier runs that are gone left running; returns their marks."""
    marks = {m for pid in _pids() for m in _marks(pid)}
    marks |= {(root / OWNER_FILE).read_text().strip() for root in postgres_dirs()}
    orphaned = sorted(m for m in marks if not owner_alive(m))
    for mark in orphaned:
        reap(mark)
    return orphaned


def watch(pid: int, mark: str) -> None:
    """Wait for the run to end, then stop whatever it left running."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while owner_alive(mark) and pid_is_running(pid):
        time.sleep(0.5)
    reap(mark)


if __name__ == "__main__":
    watch(int(sys.argv[1]), sys.argv[2])
