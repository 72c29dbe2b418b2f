"""A service's environment as docker-compose.yml gives it, for the same processes run without
containers (`backoffice deploy local`): the compose file's `${VAR:-default}` values filled in from
a mapping, then its service addresses (`temporal:7233`, `http://vault:8200`, ...) moved to where
each component listens on this host. A setting added to the compose file reaches both.

It reads YAML with PyYAML, a development package: `backoffice deploy local` runs from a checkout
set up for development (`scripts/setup.sh`), never in the app image."""

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from devstack.paths import project_root

COMPOSE_FILE = project_root() / "docker-compose.yml"
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}; `$$` is a `$`.
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


class ComposeValueMissing(ValueError):
    """A `${NAME:?message}` of the compose file with no value: the message says what to set."""


def interpolate(text: str, values: Mapping[str, str]) -> str:
    """`text` with the compose file's variables replaced as `docker compose` does."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.group(1), match.group(2) or "", match.group(3) or ""
        value = values.get(name)
        missing = value is None or (operator.startswith(":") and value == "")
        if operator.endswith("?") and missing:
            raise ComposeValueMissing(f"{name}: {argument or 'not set'}")
        if operator.endswith("-") and missing:
            return argument
        return value or ""

    return _VARIABLE.sub(one, text)


def service_environment(
    service: str,
    values: Mapping[str, str],
    addresses: Mapping[str, str | None],
    *,
    compose_file: Path = COMPOSE_FILE,
) -> dict[str, str]:
    """The `environment` of `service` (anchors merged), interpolated from `values`; every
    occurrence of a key of `addresses` (a compose address) replaced by its value, and a
    variable whose value holds an address mapped to None left out."""
    document: dict[str, Any] = yaml.safe_load(compose_file.read_text())
    raw = document["services"][service].get("environment") or {}
    env: dict[str, str] = {}
    for name, value in raw.items():
        text = interpolate(str(value), values)
        dropped = False
        for compose_address, local_address in addresses.items():
            if compose_address in text:
                if local_address is None:
                    dropped = True
                    break
                text = text.replace(compose_address, local_address)
        if not dropped:
            env[str(name)] = text
    return env
