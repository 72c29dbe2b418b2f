"""`backoffice dev ...` run as a user runs it, in a subprocess (the CLI of this checkout)."""

import subprocess
import sys

# The command line of `backoffice dev` (followed by its arguments).
CLI = [
    sys.executable,
    "-c",
    "import sys; from devstack.cli import main; raise SystemExit(main(sys.argv[1:]))",
]


def dev(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
