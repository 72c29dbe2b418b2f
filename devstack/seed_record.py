"""What the dev stack's seeding wrote into Vault, in plain text, so the next seeding writes the
same: an in-memory Vault that restarts gets the same API keys, approver passwords, codec token,
system credentials, webhook secrets and AppRole logins, and every client keeps working.

The file (`<data_dir>/devstack/seeded.json`, 0600) is the user's only; delete it to have the
next `backoffice dev up` issue new credentials.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.state import write_private


@dataclass
class SeedRecord:
    """Plain text of every credential seeded; empty where nothing was seeded yet."""

    systems: dict[str, dict[str, str]] = field(default_factory=dict)
    webhooks: dict[str, list[str]] = field(default_factory=dict)
    api_clients: dict[str, str] = field(default_factory=dict)  # id -> "<id>.<secret>"
    approvers: dict[str, str] = field(default_factory=dict)  # id -> password
    codec_token: str = ""
    approles: dict[str, dict[str, str]] = field(default_factory=dict)  # role -> ids

    @classmethod
    def load(cls, path: Path | None) -> "SeedRecord":
        """The record at `path`; an empty one when there is none (or it is unreadable)."""
        if path is None:
            return cls()
        try:
            body: dict[str, Any] = json.loads(path.read_text())
            return cls(**{k: v for k, v in body.items() if k in cls.__dataclass_fields__})
        except (OSError, ValueError, TypeError):
            return cls()

    def save(self, path: Path) -> None:
        write_private(path, json.dumps(vars(self), indent=2) + "\n")


def remember_system(path: Path, system: str, values: dict[str, str]) -> None:
    """A system's credentials changed in Vault (a rotation): the next seeding writes these."""
    record = SeedRecord.load(path)
    record.systems[system] = dict(values)
    record.save(path)
