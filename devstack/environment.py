"""Environment variables: what child processes inherit, and what local clients are told."""

import json
import os
from collections.abc import Mapping

from devstack.addresses import addresses, metrics_address
from devstack.paths import StackPaths
from devstack.state import AppRoleEntry, StackState
from devstack.temporal_server import NAMESPACE

# Inherited settings that would point a child at some other Temporal or Vault.
_NOT_INHERITED_PREFIXES = ("TEMPORAL_", "BAO_", "VAULT_", "SANDBOX_")
_NOT_INHERITED = frozenset({"BACKOFFICE_ENV_FILE"})


def inherited_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without settings of other stacks, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_NOT_INHERITED_PREFIXES) and k not in _NOT_INHERITED
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


DEMO_SLACK_CHANNELS = {"procurement": "C0PROCUREMENT"}


def client_env(
    state: StackState,
    paths: StackPaths,
    role: AppRoleEntry,
    extra: Mapping[str, str],
    *,
    database_url: str,
) -> dict[str, str]:
    """The settings a local client (CLI, API, tests) needs, logging in to Vault as `role`."""
    where = addresses(state, paths.env_file)
    # The worker and the API each serve their own; the env file records both for operators.
    metrics = {
        name: address
        for name, address in (
            (
                "BACKOFFICE_WORKER_METRICS_ADDRESS",
                metrics_address(state.host, state.ports.worker_metrics),
            ),
            (
                "BACKOFFICE_API_METRICS_ADDRESS",
                metrics_address(state.host, state.ports.api_metrics),
            ),
        )
        if address
    }
    # Mail goes to mailpit; its REST API is where tools and tests read what was sent.
    mail = (
        {
            "BACKOFFICE_SMTP_HOST": state.host,
            "BACKOFFICE_SMTP_PORT": str(state.ports.smtp),
            "BACKOFFICE_MAILPIT_URL": where.mailpit,
        }
        if where.mailpit
        else {}
    )
    return {
        "TEMPORAL_ADDRESS": where.temporal,
        "TEMPORAL_NAMESPACE": NAMESPACE,
        "BACKOFFICE_DATA_DIR": str(paths.data_dir),
        "BACKOFFICE_VAULT_ADDR": where.vault,
        "BACKOFFICE_VAULT_ROLE_ID": role.role_id,
        "BACKOFFICE_VAULT_SECRET_ID": role.secret_id,
        "BACKOFFICE_SANDBOX_URL": where.sandbox,
        "BACKOFFICE_SANDBOX_ADMIN_TOKEN": state.sandbox_admin_token,
        "BACKOFFICE_TEMPORAL_UI_URL": where.temporal_ui,
        "BACKOFFICE_API_URL": where.api,
        "BACKOFFICE_DATABASE_URL": database_url,
        # Procurement's approvals go to a channel of the sandbox's Slack, the other roles' to
        # their approvers' direct messages.
        "BACKOFFICE_SLACK_CHANNELS": json.dumps(DEMO_SLACK_CHANNELS),
        **metrics,
        **mail,
        **extra,
    }
