"""docker-compose.yml and its env example as the tests read them: parsed YAML, the variables
it references, and Compose's interpolation of `${VAR}`, `${VAR:-default}`, `${VAR:?error}`."""

import re
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def env_example() -> dict[str, str]:
    return {k: v or "" for k, v in dotenv_values(ENV_EXAMPLE).items()}


def referenced_variables(text: str) -> set[str]:
    """Every variable `${...}` in `text` (`$$` is a literal dollar, not a reference)."""
    return {m.group(1) for m in _REFERENCE.finditer(text.replace("$$", ""))}


def interpolate(value: str, env: dict[str, str]) -> str:
    """What Compose makes of `value` with `env` (the .env file)."""

    def one(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        given = env.get(name)
        if operator in (":-", "-"):
            use_default = given is None or (operator == ":-" and given == "")
            return argument if use_default else str(given)
        if operator in (":?", "?"):
            if given is None or (operator == ":?" and given == ""):
                raise KeyError(f"{name}: {argument}")
            return given
        return given or ""

    return _REFERENCE.sub(one, value).replace("$$", "$")


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping (Compose allows a list of KEY=VALUE too)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Dependency -> condition (a plain list means service_started)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def argv(service: dict[str, Any]) -> list[str]:
    """The command line a service of the app image runs (its entrypoint, else `backoffice`)."""
    entrypoint = service.get("entrypoint") or ["backoffice"]
    command = service.get("command") or []
    return [*entrypoint, *command]


def is_one_shot(service: dict[str, Any]) -> bool:
    return str(service.get("restart", "no")) == "no"
