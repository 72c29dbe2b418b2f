"""The stack's record of its processes: the state file, plus Popen handles for those started here.

Another process (the CLI's `down`, a test) loads the same record from the state file and can
still find and stop every process by pid.
"""

from datetime import UTC, datetime
from pathlib import Path

from devstack.errors import StackError
from devstack.process import ManagedProcess, kill, stop
from devstack.state import ProcessEntry, StackState, load_state, save_state


class ProcessBook:
    """Reads and writes `state.json`; keeps this process's Popen objects so children are reaped."""

    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        self.state: StackState | None = load_state(state_file)
        self._spawned: dict[str, ManagedProcess] = {}

    def reload(self) -> None:
        """Another process may have changed the stack since this one last looked."""
        self.state = load_state(self.state_file) or self.state

    def require(self) -> StackState:
        if self.state is None:
            data_dir = self.state_file.parent.parent
            raise StackError(
                f"the dev stack in {data_dir} was never started: run `backoffice dev up`"
            )
        return self.state

    def save(self) -> None:
        save_state(self.state_file, self.require())

    def get(self, name: str) -> ManagedProcess | None:
        entry = self.state.processes.get(name) if self.state else None
        if entry is None:
            return None
        mine = self._spawned.get(name)
        if mine is not None and mine.pid == entry.pid:
            return mine  # started here: keeps the Popen, so it can be reaped
        return ManagedProcess(
            name=name,
            pid=entry.pid,
            start_ticks=entry.start_ticks,
            display_command=entry.command,
            log_file=Path(entry.log_file),
        )

    def is_running(self, name: str) -> bool:
        process = self.get(name)
        return process is not None and process.is_running()

    def record(self, process: ManagedProcess) -> None:
        state = self.require()
        self._spawned[process.name] = process
        state.processes[process.name] = ProcessEntry(
            pid=process.pid,
            start_ticks=process.start_ticks,
            command=process.display_command,
            log_file=str(process.log_file),
            started_at=datetime.now(UTC),
        )
        self.save()

    def stop(self, name: str, *, timeout: float, graceful: bool = True) -> bool:
        """Stop one process and drop it from the record; False if it was not running."""
        process = self.get(name)
        if process is None:
            return False
        was_running = stop(process, timeout=timeout) if graceful else kill(process)
        self._spawned.pop(name, None)
        if self.state is not None:
            self.state.processes.pop(name, None)
            self.save()
        return was_running
