"""The `backoffice` command tree as an operator meets it: the installed console script lists
every command, knows its version, and answers a mistake or a stopped stack with one line and a
documented exit status; list and status commands print JSON with `--json`."""

import json
import os
import re
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from backoffice.cli.tree import DELEGATED, commands
from domain.contract import vendor_onboarding_id
from tests.helpers import vendor_application, wait_for

# The installed entry point (pip's console script), not `python -m`: what a user runs.
BACKOFFICE = str(Path(sys.executable).parent / "backoffice")
HIDDEN_BEFORE = ("demo", "dev", "api", "worker", "chaos", "bench", "deploy")


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BACKOFFICE, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bare_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """No dev stack's settings: only `settings`, with Temporal and Vault at closed ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKOFFICE_", "TEMPORAL_"))}
    env.update(
        BACKOFFICE_ENV_FILE=str(tmp_path / "absent.env"),
        BACKOFFICE_DATA_DIR=str(tmp_path),
        BACKOFFICE_VAULT_ADDR=f"http://127.0.0.1:{closed_port()}",
        BACKOFFICE_VAULT_ROLE_ID="role-of-nobody",
        BACKOFFICE_VAULT_SECRET_ID="secret-of-nobody",
        TEMPORAL_ADDRESS=f"127.0.0.1:{closed_port()}",
    )
    env.update(settings)
    return env


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def test_help_lists_every_command_of_the_tree_with_its_purpose(tmp_path):
    done = run("--help", env=bare_env(tmp_path))

    assert done.returncode == 0, done.stderr
    listed = dict(re.findall(r"^    (\S+)\s+(\S.*)$", done.stdout, flags=re.MULTILINE))
    tree = commands()
    assert set(tree) >= {*HIDDEN_BEFORE, "start", "approvals", "approve", "status", "audit"}
    assert set(tree) >= set(DELEGATED)
    for name in tree:
        assert re.search(rf"^    {re.escape(name)}(\s|$)", done.stdout, re.MULTILINE), name
    for name in HIDDEN_BEFORE:
        assert listed.get(name), f"`backoffice --help` shows no purpose for {name}"
    assert "exit codes: 0 ok; 1 failed" in done.stdout
    assert "3 not" in done.stdout and "running (Temporal, Vault" in done.stdout


def test_version_is_the_installed_package_version(tmp_path):
    done = run("--version", env=bare_env(tmp_path))

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"backoffice {version('backoffice')}"


def test_a_usage_error_is_one_line_and_exit_2(tmp_path):
    env = bare_env(tmp_path)
    for args in (["nonsense"], ["start", "nope", "f.json"], ["status"], ["worker", "--x"]):
        done = run(*args, env=env)
        assert done.returncode == 2, (args, done.stderr)
        line = one_line(done.stderr)
        assert line.startswith("backoffice"), line
        assert "--help" in line, line
        assert done.stdout == ""


def test_temporal_not_running_is_one_line_and_exit_3(tmp_path):
    env = bare_env(tmp_path)
    address = env["TEMPORAL_ADDRESS"]
    for args in (
        ["status", "vendor-onboarding-x"],
        ["approvals"],
        ["approvals", "--json"],
        ["schedules", "list", "--json"],
        ["replay-check"],
    ):
        done = run(*args, env=env)
        assert done.returncode == 3, (args, done.stderr)
        line = one_line(done.stderr)
        assert f"Temporal unreachable at {address}" in line
        assert "backoffice dev up" in line and "TEMPORAL_ADDRESS" in line
        assert done.stdout == ""


def test_vault_not_running_is_one_line_and_exit_3(tmp_path):
    env = bare_env(tmp_path)
    # `approve` reads the approver directory from Vault before it reaches Temporal; the worker
    # checks its database's schema (migrated here), then logs in before it polls.
    migrated = run("deploy", "migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    for args in (["approve", "vendor-onboarding-x", "--as", "pat"], ["worker"]):
        done = run(*args, env=env)
        assert done.returncode == 3, (args, done.stderr)
        line = one_line(done.stderr)
        assert f"Vault unreachable at {env['BACKOFFICE_VAULT_ADDR']}" in line
        assert "BACKOFFICE_VAULT_ADDR" in line and "secret-of-nobody" not in line


def test_sandbox_not_running_is_one_line_and_exit_3(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}"
    done = run("pay", "INV-1", "10.00", env=bare_env(tmp_path, BACKOFFICE_SANDBOX_URL=url))

    assert done.returncode == 3, done.stderr
    assert f"sandbox unreachable at {url}" in one_line(done.stderr)


async def test_list_and_status_commands_print_json(cli_env, tmp_path):
    app = vendor_application(vendor_type="contractor", payment_terms="net30")
    file = tmp_path / "application.json"
    file.write_text(json.dumps(app))
    workflow_id = vendor_onboarding_id(app["application_id"])
    # The stack's approval timers are seconds (for the expiry tests): this run waits minutes.
    env = {
        **cli_env,
        "BACKOFFICE_APPROVAL_REMIND_AFTER": "PT5M",
        "BACKOFFICE_APPROVAL_ESCALATE_AFTER": "PT5M",
        "BACKOFFICE_APPROVAL_EXPIRE_AFTER": "PT10M",
    }
    assert run("start", "vendor-onboarding", str(file), env=env).returncode == 0

    async def listed() -> dict[str, Any] | None:
        done = run("approvals", "--role", "procurement", "--json", env=cli_env)
        assert done.returncode == 0, done.stderr
        rows = json.loads(done.stdout)
        return next((row for row in rows if row["workflow_id"] == workflow_id), None)

    row = await wait_for(listed, timeout=60, what="the approval in `approvals --json`")
    assert row["allowed_roles"] == ["procurement"] and row["process"] == "VendorOnboarding"

    status = run("status", workflow_id, "--json", env=cli_env)
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["business_key"] == app["application_id"]
    assert shown["pending_approval"]["request"]["approval_id"] == row["approval_id"]

    letters = run("webhooks", "dead-letters", "--json", env=cli_env)
    assert letters.returncode == 0, letters.stderr
    assert isinstance(json.loads(letters.stdout), list)

    schedule_id = f"cli-tree-{app['application_id']}"
    created = run("schedules", "create", "--id", schedule_id, env=cli_env)
    assert created.returncode == 0, created.stderr
    try:
        listing = run("schedules", "list", "--json", env=cli_env)
        assert listing.returncode == 0, listing.stderr
        assert schedule_id in {s["schedule_id"] for s in json.loads(listing.stdout)}
        described = run("schedules", "describe", "--id", schedule_id, "--json", env=cli_env)
        assert described.returncode == 0, described.stderr
        view = json.loads(described.stdout)
        assert view["schedule_id"] == schedule_id and view["paused"] is False
    finally:
        run("schedules", "delete", "--id", schedule_id, env=cli_env)
