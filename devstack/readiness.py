"""Wait for a started process to answer, failing fast (with its log) when it exits instead."""

import time
from collections.abc import Callable

from devstack.errors import ComponentError
from devstack.process import ManagedProcess

Probe = Callable[[], str | None]
"""Returns None when the component is ready, else why it is not (yet)."""


def wait_ready(process: ManagedProcess, probe: Probe, *, timeout: float, what: str) -> None:
    """Poll `probe` until it returns None; raise a ComponentError on exit or timeout."""
    deadline = time.monotonic() + timeout
    reason = "no answer yet"
    while True:
        if not process.is_running():
            code = process.exit_code()
            exited = "exited" if code is None else f"exited with code {code}"
            raise component_error(process, f"{exited} before {what}")
        reason = probe() or ""
        if not reason:
            return
        if time.monotonic() >= deadline:
            raise component_error(process, f"not {what} after {timeout:.0f} s ({reason})")
        time.sleep(0.25)


def component_error(process: ManagedProcess, problem: str) -> ComponentError:
    return ComponentError(
        process.name,
        problem,
        command=process.display_command,
        log_file=process.log_file,
        log_tail=process.log_tail(20),
    )
