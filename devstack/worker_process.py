"""The backoffice worker process: its command line and how to tell that it polls."""

import sys

from devstack.process import ManagedProcess

READY_LINE = "backoffice worker ready"


def worker_command() -> list[str]:
    return [sys.executable, "-m", "workers"]


def probe(process: ManagedProcess) -> str | None:
    """None once the worker wrote its ready line to the log since this start."""
    if READY_LINE in process.log_since_start():
        return None
    return f"no line {READY_LINE!r} in the log yet"
