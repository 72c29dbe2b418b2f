"""CPU-seconds and resident memory of a process, from /proc (Linux), and a sampler that keeps
the peak memory of a few processes while a phase runs."""

import asyncio
import contextlib
import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far (its threads included)."""
    stat = (Path("/proc") / str(pid) / "stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_bytes(pid: int) -> int:
    """Resident set size of `pid` now."""
    for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class PeakMemory:
    """Samples the RSS of named processes every `every` seconds until stopped."""

    def __init__(self, pids: dict[str, int], every: float = 0.5) -> None:
        self._pids = pids
        self._every = every
        self.peak: dict[str, int] = {name: 0 for name in pids}
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        for name, pid in self._pids.items():
            with contextlib.suppress(OSError):  # the process just stopped (a restart)
                self.peak[name] = max(self.peak[name], rss_bytes(pid))

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self._every)

    def __enter__(self) -> "PeakMemory":
        self.sample()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
        self.sample()
