"""The secrets of `.env`, checked before the vault-init step does anything: none may keep
`.env.example`'s placeholder value or be short (a guessable password seeds nothing)."""

from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"
# The secrets docker-compose.yml hands the vault-init step to check (the Secrets of .env).
CHECKED_SECRETS = (
    "POSTGRES_PASSWORD",
    "TEMPORAL_DB_PASSWORD",
    "BACKOFFICE_DB_PASSWORD",
    "SANDBOX_ADMIN_TOKEN",
)
MIN_SECRET_LENGTH = 20  # `openssl rand -hex 24` gives 48
PLACEHOLDER = "replace-me"


class SecretRefused(Exception):
    """A secret of `.env` is a placeholder or too short; the message names it."""


def example_values(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """`.env.example`'s values (none when the file is not there, as in the app image)."""
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v}


def check_secrets(given: Mapping[str, str], example: Mapping[str, str]) -> None:
    """Raise SecretRefused naming every secret of `given` that is not fit to use."""
    problems = []
    for name in CHECKED_SECRETS:
        value = given.get(name)
        if value is None:
            continue
        if PLACEHOLDER in value.lower() or value == example.get(name):
            problems.append(f"{name} still has the placeholder value of .env.example")
        elif len(value) < MIN_SECRET_LENGTH:
            problems.append(
                f"{name} is {len(value)} characters long; use at least {MIN_SECRET_LENGTH} "
                "(e.g. `openssl rand -hex 24`)"
            )
    if problems:
        raise SecretRefused(
            "refusing to seed Vault, nothing was written: "
            + "; ".join(problems)
            + " (set it in .env)"
        )
