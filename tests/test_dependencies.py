"""Reproducible installs: every package the code imports is declared in pyproject.toml, every
declared package and everything it brings is pinned in constraints.txt, and this environment
(made by scripts/setup.sh, as CI's) holds exactly those versions."""

import ast
import functools
import re
import sys
import tomllib
from collections.abc import Mapping
from importlib.metadata import distributions, packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "backoffice",
    "domain",
    "workflows",
    "activities",
    "workers",
    "starters",
    "runtime",
    "sandbox",
    "devstack",
    "bench",
    "deploy",
    "chaos",
)
# The product modules that import development packages, on purpose (their docstrings say so).
DEV_IMPORTS_ALLOWED = {"chaos/plans/bad_input.py", "deploy/compose_env.py"}
# Installers, not dependencies.
NOT_PINNED = {"pip", "setuptools", "wheel", "backoffice"}


def _name(requirement: str) -> str:
    """The normalized distribution name of a requirement such as `temporalio[pydantic]>=1.35`."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match[0]).lower()


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    dev = {_name(r) for r in project["optional-dependencies"]["dev"]}
    return runtime, dev


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[_name(name)] = version
    return pins


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    local = {*PACKAGES, "tests"}
    return {m for m in found if m not in local and m not in sys.stdlib_module_names}


@functools.cache
def _providers(module: str) -> frozenset[str]:
    return frozenset(_name(d) for d in _distributions_of().get(module, []))


@functools.cache
def _distributions_of() -> Mapping[str, list[str]]:
    return packages_distributions()


def test_every_imported_package_is_declared():
    runtime, dev = _declared()
    undeclared = []
    files = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")]
    for path in files + list((ROOT / "tests").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        allowed = runtime if relative.split("/")[0] in PACKAGES else runtime | dev
        if relative in DEV_IMPORTS_ALLOWED:
            allowed = runtime | dev
        for module in _imports(path):
            if not _providers(module) & allowed:
                undeclared.append(f"{relative}: {module} ({', '.join(_providers(module))})")
    assert undeclared == []


def test_every_installed_package_is_pinned_at_its_installed_version():
    pins = _pins()
    runtime, dev = _declared()
    assert runtime | dev <= set(pins), "a declared package is not in constraints.txt"
    installed = {
        _name(d.metadata["Name"]): d.version
        for d in distributions()
        if _name(d.metadata["Name"]) not in NOT_PINNED
    }
    assert installed == pins, (
        "this environment differs from constraints.txt: run scripts/setup.sh "
        "(or scripts/lock.sh after changing pyproject.toml)"
    )


def test_setup_installs_from_the_constraints():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert re.search(r'pip install --quiet -c constraints\.txt -e "\.\[dev\]"', setup)
