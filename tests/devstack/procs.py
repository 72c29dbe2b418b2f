"""Which live processes belong to a data dir (by command line or working directory)."""

import os
from pathlib import Path


def processes_using(data_dir: Path) -> list[str]:
    """'pid: command' of every live process whose command line or cwd is inside `data_dir`."""
    found = []
    marker = str(data_dir)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(entry / "cwd")
        except (OSError, IndexError):
            continue
        if marker in command or cwd == marker or cwd.startswith(marker + "/"):
            found.append(f"{entry.name}: {command.strip()}")
    return found
