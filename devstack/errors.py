"""Errors of the dev stack: each one says which component failed and where to look."""

from collections.abc import Sequence
from pathlib import Path


class StackError(Exception):
    """The dev stack could not do what was asked; the message says what to do about it."""


class StackNotRunning(StackError):
    """The command needs a running dev stack and none runs."""


class ComponentError(StackError):
    """One component did not start (or stop); names it, its command and the log file to read."""

    def __init__(
        self,
        component: str,
        problem: str,
        *,
        command: Sequence[str] = (),
        log_file: Path | None = None,
        log_tail: str = "",
    ) -> None:
        self.component = component
        self.problem = problem
        self.command = list(command)
        self.log_file = log_file
        lines = [f"{component}: {problem}"]
        if self.command:
            lines.append(f"  command: {' '.join(self.command)}")
        if log_file is not None:
            lines.append(f"  log file: {log_file}")
        if log_tail.strip():
            lines.append("  last lines of the log:")
            lines.extend(f"    | {line}" for line in log_tail.rstrip().splitlines())
        super().__init__("\n".join(lines))
