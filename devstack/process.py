"""Detached child processes: start with the log going to a file, tell if alive, stop the group."""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path


@dataclass
class ManagedProcess:
    """A process the stack started: its pid (also its process group), command and log file.

    `popen` is set only in the process that started it, so it can be reaped; a `Stack` loaded
    from the state file by another process works from the pid alone.
    """

    name: str
    pid: int
    start_ticks: int | None
    display_command: list[str]
    log_file: Path
    log_offset: int = 0
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    def is_running(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return pid_is_running(self.pid, self.start_ticks)

    def exit_code(self) -> int | None:
        return self.popen.poll() if self.popen is not None else None

    def log_tail(self, lines: int = 20) -> str:
        return tail(self.log_file, lines)

    def log_since_start(self) -> str:
        """What the process wrote to its log since this start (the log file is appended to)."""
        try:
            with self.log_file.open("rb") as log:
                log.seek(self.log_offset)
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""


def open_private_log(path: Path) -> int:
    """Open a log for appending, readable by the user only (logs may echo tokens)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    log_file: Path,
    env: Mapping[str, str],
    cwd: Path,
    display_command: Sequence[str] | None = None,
) -> ManagedProcess:
    """Start `argv` in its own session (so the group can be signalled), output to `log_file`."""
    shown = list(display_command or argv)
    fd = open_private_log(log_file)
    try:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        os.write(fd, f"\n=== {stamp} devstack starts {name}: {' '.join(shown)}\n".encode())
        offset = os.lseek(fd, 0, os.SEEK_END)
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(fd)
    return ManagedProcess(
        name=name,
        pid=popen.pid,
        start_ticks=start_ticks(popen.pid),
        display_command=shown,
        log_file=log_file,
        log_offset=offset,
        popen=popen,
    )


def start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot; Linux), None where unknown.

    Unchanged by exec, so it identifies a process across a wrapper that execs its binary;
    a different value under the same pid means the pid was reused by another process.
    """
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
        return int(stat[stat.rindex(")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _is_zombie(pid: int) -> bool:
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].startswith(("Z", "X"))


def pid_is_running(pid: int, expected_start: int | None = None) -> bool:
    """True when `pid` is a live (not zombie) process that started at `expected_start`.

    The start check keeps a stale state file from signalling an unrelated process that
    happens to reuse an old pid.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process: never ours
    if _is_zombie(pid):
        return False
    return expected_start is None or start_ticks(pid) in (None, expected_start)


def _signal_group(process: ManagedProcess, sig: signal.Signals) -> None:
    try:
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, sig)
        else:
            os.kill(process.pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(process: ManagedProcess, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process.is_running():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def stop(process: ManagedProcess, *, timeout: float = 10.0) -> bool:
    """SIGTERM the process group, wait up to `timeout`, then SIGKILL. False if it was not up."""
    if not process.is_running():
        _reap(process)
        return False
    _signal_group(process, signal.SIGTERM)
    if not _wait_gone(process, timeout):
        _signal_group(process, signal.SIGKILL)
        _wait_gone(process, 5.0)
    _reap(process)
    return True


def kill(process: ManagedProcess) -> bool:
    """SIGKILL the process group at once (a crash, for tests). False if it was not running."""
    if not process.is_running():
        _reap(process)
        return False
    _signal_group(process, signal.SIGKILL)
    _wait_gone(process, 5.0)
    _reap(process)
    return True


def _reap(process: ManagedProcess) -> None:
    if process.popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(timeout=1.0)


def tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a text file ('' when it does not exist)."""
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            size = log.tell()
            log.seek(max(0, size - 64 * 1024))
            text = log.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
