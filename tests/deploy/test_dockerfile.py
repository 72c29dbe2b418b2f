"""The app image: its Dockerfile (pinned base, non-root user, dependencies from constraints.txt
in a layer before the source, `pip install .`, entry point
`backoffice`), the build context .dockerignore leaves (it still builds the package, without
.env), and the commands docker-compose.yml runs from it exist."""

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from backoffice.cli.deploy import _parser as deploy_parser
from tests.deploy.compose import ROOT, argv, services

DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_the_base_image_is_a_pinned_python_3_11_slim():
    bases = [args for word, args in _instructions() if word == "FROM"]
    assert len(bases) == 1
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?", bases[0]), bases[0]


def test_it_installs_the_project_and_runs_as_a_user_that_is_not_root():
    steps = _instructions()
    words = [word for word, _ in steps]
    install = next(i for i, (w, a) in enumerate(steps) if w == "RUN" and "/tmp/backoffice-src" in a)
    assert re.search(r"pip install --no-deps /tmp/backoffice-src( |$)", steps[install][1])
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0")
    assert words.index("USER") > install, "install as root, then drop to the app's user"
    useradd = next(a for w, a in steps if w == "RUN" and "useradd" in a)
    assert re.search(r"--uid \d+", useradd), "a fixed uid, so volume files keep their owner"
    assert users[-1] in useradd


def test_dependencies_come_from_constraints_in_a_layer_before_the_source(tmp_path):
    steps = _instructions()

    def first(word: str, text: str) -> int:
        return next(i for i, (w, a) in enumerate(steps) if w == word and text in a)

    copy_deps = first("COPY", "constraints.txt")
    install_deps = first("RUN", "-c /tmp/backoffice-deps/constraints.txt")
    copy_source = next(i for i, (w, a) in enumerate(steps) if w == "COPY" and a.startswith(". "))
    assert copy_deps < install_deps < copy_source
    assert steps[copy_deps][1].split()[:2] == ["pyproject.toml", "constraints.txt"]
    # The step's own command lists the project's runtime dependencies for pip.
    command = re.search(r'python -c "([^"]+)"', steps[install_deps][1])
    assert command is not None
    (tmp_path / "backoffice-deps").mkdir()
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "backoffice-deps")
    listed = subprocess.run(
        [
            sys.executable,
            "-c",
            command[1].replace("/tmp/backoffice-deps", str(tmp_path / "backoffice-deps")),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    assert "temporalio[pydantic]>=1.35.0" in listed and "hvac>=2.3" in listed


def test_the_entry_point_is_the_backoffice_command():
    entrypoints = [args for word, args in _instructions() if word == "ENTRYPOINT"]
    assert entrypoints == ['["backoffice"]']


def _ignored(relative: str, patterns: list[str]) -> bool:
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        plain = pattern.removeprefix("**/")
        for prefix in prefixes:
            if fnmatch.fnmatchcase(prefix, pattern) or (
                pattern.startswith("**/") and fnmatch.fnmatchcase(prefix.split("/")[-1], plain)
            ):
                return True
    return False


def _patterns() -> list[str]:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not any(p.startswith("!") for p in patterns), "this test reads no '!' exceptions"
    return patterns


def _build_context(into: Path) -> None:
    """Copy the files a `docker build .` would send (tracked or new, not git-ignored), less
    what .dockerignore leaves out."""
    patterns = _patterns()
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for relative in listed:
        source = ROOT / relative
        if source.is_file() and not _ignored(relative, patterns):
            target = into / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


@pytest.mark.timeout(420)  # the wheel build alone may take 300 s on a busy machine
def test_the_build_context_builds_the_package_without_secrets(tmp_path):
    context = tmp_path / "context"
    _build_context(context)
    for secret_file in (".env", ".env.production", ".data/devstack/backoffice.env"):
        assert _ignored(secret_file, _patterns()), f"the image build would see {secret_file}"
    assert not (context / "tests").exists()

    # As the Dockerfile's `pip install` does: an isolated build (setuptools from the index).
    wheel_dir = tmp_path / "wheel"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), context],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert built.returncode == 0, built.stderr
    (wheel,) = wheel_dir.glob("backoffice-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in (
        "backoffice/cli/deploy.py",
        "deploy/vault_init.py",
        "devstack/vault_seed.py",
        "workers/main.py",
        "starters/api/server.py",
        "sandbox/__main__.py",
        "runtime/temporal_config.py",
        "runtime/migrations/env.py",
        "runtime/migrations/versions/rev_0001_initial_schema.py",
        "runtime/migrations/script.py.mako",
    ):
        assert module in names, f"the image would lack {module}"
    assert any(n.startswith("starters/api/inbox/templates/") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "backoffice = backoffice.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def _app_services() -> dict[str, list[str]]:
    """Service -> the command line it runs in the app image (health checks included)."""
    commands = {}
    for name, service in services().items():
        if "build" in service:
            commands[name] = argv(service)
            check = service.get("healthcheck", {}).get("test", [])
            if check[:2] == ["CMD", "backoffice"]:
                commands[f"{name} (health check)"] = check[1:]
    return commands


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    executable = {
        "backoffice": [sys.executable, "-m", "backoffice.cli"],
        "python": [sys.executable],
    }
    return subprocess.run(
        [*executable[command[0]], *command[1:]],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _bare_env(tmp_path: Path) -> dict[str, str]:
    """No BACKOFFICE_ or TEMPORAL_ settings and no dev-stack env file: a fresh container."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKOFFICE_", "TEMPORAL_"))}
    env["BACKOFFICE_ENV_FILE"] = str(tmp_path / "absent.env")
    return env


def test_every_command_the_compose_file_runs_exists(tmp_path):
    commands = _app_services()
    assert set(commands) >= {
        "worker",
        "api",
        "sandbox",
        "db-migrate",
        "vault-init",
        "schedules-init",
    }
    for name, command in commands.items():
        done = _run([*command, "--help"], _bare_env(tmp_path))
        assert done.returncode == 0, f"{name}: {' '.join(command)} --help\n{done.stderr}"
        assert "usage:" in done.stdout, name


def test_the_compose_arguments_parse(tmp_path):
    """The exact command lines: each gets past its argument parsing to the settings (which a
    bare environment lacks), none stops at a usage error."""
    for name in ("worker", "api", "schedules-init"):
        done = _run(argv(services()[name]), _bare_env(tmp_path))
        assert done.returncode == 2, f"{name}: {done.stdout}{done.stderr}"
        assert "bad settings" in done.stderr, name
        assert "usage:" not in done.stderr, name
    init = argv(services()["vault-init"])
    assert init[0] == "backoffice"
    parsed = deploy_parser().parse_args(init[2:])
    assert parsed.step == "init-vault"
    assert parsed.vault == "http://vault:8200"
    assert parsed.sandbox == "http://sandbox:8400"
    assert parsed.webhooks_to == "http://api:8000"
