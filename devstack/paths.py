"""Where things live: the project root (for `.tools/`) and the files under a stack's data dir."""

from dataclasses import dataclass
from functools import cache
from pathlib import Path


@cache
def project_root() -> Path:
    """The folder holding pyproject.toml, found upwards from this package."""
    here = Path(__file__).resolve().parent
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return here.parent


def tools_bin_dir() -> Path:
    """The project's own tools folder, where a built Temporal CLI is kept."""
    return project_root() / ".tools" / "bin"


@dataclass(frozen=True)
class StackPaths:
    """Every file the dev stack reads or writes under one data dir (an absolute path)."""

    data_dir: Path

    @property
    def devstack_dir(self) -> Path:
        return self.data_dir / "devstack"

    @property
    def log_dir(self) -> Path:
        return self.devstack_dir / "logs"

    @property
    def state_file(self) -> Path:
        return self.devstack_dir / "state.json"

    @property
    def env_file(self) -> Path:
        return self.devstack_dir / "backoffice.env"

    @property
    def credentials_file(self) -> Path:
        """The demo API credentials in plain text (the user's only; kept across `up`s)."""
        return self.devstack_dir / "credentials.json"

    @property
    def seed_record(self) -> Path:
        """Every credential seeded into Vault, so the next seeding writes the same (0600)."""
        return self.devstack_dir / "seeded.json"

    @property
    def temporal_db(self) -> Path:
        return self.data_dir / "temporal" / "temporal.db"

    @property
    def sandbox_db(self) -> Path:
        return self.data_dir / "sandbox" / "sandbox.db"

    @property
    def vault_storage_dir(self) -> Path:
        """OpenBao's file storage (vault_storage="file" only)."""
        return self.data_dir / "vault"

    @property
    def vault_config(self) -> Path:
        return self.devstack_dir / "openbao.hcl"

    @property
    def temporal_ui_config_dir(self) -> Path:
        """The Temporal UI server's config file is written here on every start."""
        return self.devstack_dir / "temporal-ui"

    @property
    def mailpit_db(self) -> Path:
        """Mailpit's mailbox: kept across `down` and `up`."""
        return self.data_dir / "mailpit" / "mailpit.db"

    @property
    def mailpit_auth_file(self) -> Path:
        """The SMTP login mailpit accepts (the one seeded into Vault for the mail system)."""
        return self.devstack_dir / "mailpit-auth"

    @property
    def backoffice_db(self) -> Path:
        return self.data_dir / "backoffice.db"

    def log_file(self, component: str) -> Path:
        return self.log_dir / f"{component}.log"

    def create_dirs(self) -> None:
        """Create the folders (private to the user: they hold tokens and logs)."""
        for folder in (
            self.devstack_dir,
            self.log_dir,
            self.temporal_db.parent,
            self.sandbox_db.parent,
            self.mailpit_db.parent,
        ):
            folder.mkdir(parents=True, exist_ok=True)
        self.devstack_dir.chmod(0o700)
