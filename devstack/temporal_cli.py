"""Find the Temporal CLI (which runs the dev server), building or downloading it when missing.

Order: $TEMPORAL_CLI, `temporal` on PATH, the project's `.tools/bin`, `go install` into
`.tools/bin` when Go is present, and last the Python SDK's own download (needs internet).
"""

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from devstack.aio import run_sync
from devstack.errors import StackError
from devstack.paths import project_root, tools_bin_dir

CLI_MODULE = "github.com/temporalio/cli/cmd/temporal"
# The newest release whose go.mod has no `replace` directive, so `go install` works by name.
CLI_VERSION = "v1.5.1"
GO_INSTALL_TIMEOUT_SECONDS = 30 * 60

INSTALL_HINT = (
    "Install the Temporal CLI (https://docs.temporal.io/cli#install) and put `temporal` on "
    "PATH or set TEMPORAL_CLI=/path/to/temporal; or install Go (https://go.dev/dl/) so the "
    f"dev stack can build it into {tools_bin_dir()}; or run once with internet access so the "
    "Temporal SDK can download it."
)

Say = Callable[[str], None]


class TemporalCliNotFound(StackError):
    """No Temporal CLI could be found, built or downloaded; says what to install."""


def executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def installed(
    variable: str,
    binary: str,
    not_found: type[StackError],
    hint: str,
    *,
    folder: Path | None = None,
    search_path: bool = True,
) -> Path | None:
    """A tool already on this machine: $<variable>, then `binary` on PATH (unless its name is
    too generic to look for there), then `folder` (default: the project's tools folder); None
    when it is in none of them."""
    explicit = os.environ.get(variable)
    if explicit:
        path = Path(explicit).expanduser()
        if not executable(path):
            raise not_found(
                f"{variable}={explicit} is not an executable file. Fix or unset it. " + hint
            )
        return path
    on_path = shutil.which(binary) if search_path else None
    if on_path:
        return Path(on_path)
    local = (folder or tools_bin_dir()) / binary
    return local if executable(local) else None


def built_with_go(
    module: str,
    binary: str,
    not_found: type[StackError],
    hint: str,
    say: Say,
    *,
    takes: str,
    folder: Path | None = None,
) -> Path:
    """`go install module` into `folder` (default: the project's tools folder), or `not_found`
    with `hint` when Go is missing or the build fails."""
    go = shutil.which("go")
    if not go:
        raise not_found(f"no {binary} found and Go is not on PATH. {hint}")
    try:
        return go_install(go, module, binary, say, takes, folder)
    except StackError as exc:
        raise not_found(f"{exc}\n{hint}") from None


def find_temporal_cli(say: Say = print) -> Path:
    """The Temporal CLI binary to run, trying every source in order."""
    found = installed("TEMPORAL_CLI", "temporal", TemporalCliNotFound, INSTALL_HINT)
    if found is not None:
        return found
    problems: list[str] = []
    go = shutil.which("go")
    if go:
        try:
            return build_with_go(go, say)
        except StackError as exc:
            problems.append(str(exc))
    else:
        problems.append("Go is not on PATH, so the CLI cannot be built")
    try:
        return download_with_sdk(say)
    except StackError as exc:
        problems.append(str(exc))
    raise TemporalCliNotFound(
        "no Temporal CLI found (" + "; ".join(problems) + ").\n" + INSTALL_HINT
    )


def _looks_like_checksum_failure(output: str) -> bool:
    text = output.lower()
    return any(
        marker in text
        for marker in ("sum.golang.org", "checksum database", "gosumdb", "verifying module")
    )


def build_with_go(go: str, say: Say) -> Path:
    """`go install` the pinned CLI into the project's tools folder (takes a few minutes)."""
    return go_install(go, f"{CLI_MODULE}@{CLI_VERSION}", "temporal", say, "~3 minutes")


def go_install(
    go: str, module: str, binary: str, say: Say, takes: str, target: Path | None = None
) -> Path:
    """`go install <module>@<version>` into `target` (default: the project's tools folder);
    the built binary."""
    target = target or tools_bin_dir()
    target.mkdir(parents=True, exist_ok=True)
    argv = [go, "install", module]
    env = {**os.environ, "GOBIN": str(target)}
    say(f"Building {module} with Go into {target} (takes {takes})...")
    result = _run(argv, env)
    if result.returncode != 0 and _looks_like_checksum_failure(result.stdout):
        say("The Go checksum database is unreachable; retrying once with GOSUMDB=off...")
        result = _run(argv, {**env, "GOSUMDB": "off"})
    if result.returncode != 0:
        last = "\n".join(result.stdout.strip().splitlines()[-10:])
        raise StackError(f"`{' '.join(argv)}` failed (exit {result.returncode}):\n{last}")
    built = target / binary
    if not executable(built):
        raise StackError(f"`go install` succeeded but {built} is missing")
    say(f"Built {built}")
    return built


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv,
            env=env,
            cwd=project_root(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=GO_INSTALL_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"`{' '.join(argv)}` could not run: {exc}") from exc


def download_with_sdk(say: Say) -> Path:
    """Let the Temporal Python SDK download its dev server into `.tools/`, then use that binary."""
    from temporalio.testing import WorkflowEnvironment

    dest = project_root() / ".tools" / "temporal-sdk-download"
    dest.mkdir(parents=True, exist_ok=True)
    say(f"Downloading the Temporal CLI through the Temporal SDK into {dest}...")

    async def download() -> None:
        env = await WorkflowEnvironment.start_local(download_dest_dir=str(dest))
        await env.shutdown()

    try:
        run_sync(download)
    except Exception as exc:  # any failure here means: no internet or no release for this OS
        raise StackError(f"the Temporal SDK could not download the CLI: {exc}") from exc
    candidates = sorted(
        (p for p in dest.iterdir() if executable(p)),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    if not candidates:
        raise StackError(f"the Temporal SDK download left no executable in {dest}")
    return candidates[0]
