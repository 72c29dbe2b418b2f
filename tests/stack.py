"""Test stacks: a `StackConfig` on free ports in a temp data dir, and starting one as a test."""

import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from devstack.config import StackConfig
from devstack.errors import StackError
from devstack.stack import Stack

# Approval windows of seconds, so the timeout paths run inside a test.
SHORT_APPROVAL_TIMEOUTS = {
    "BACKOFFICE_APPROVAL_REMIND_AFTER": "PT4S",
    "BACKOFFICE_APPROVAL_ESCALATE_AFTER": "PT4S",
    "BACKOFFICE_APPROVAL_EXPIRE_AFTER": "PT12S",
    # Long enough that a rotation test meets a stale cached credential.
    "BACKOFFICE_SECRET_CACHE_SECONDS": "600",
    # A compensation that keeps failing gives up after 3 attempts (1 s + 2 s of backoff).
    "BACKOFFICE_COMPENSATION_ATTEMPTS": "3",
    # A step whose third attempt fails shows `Stage` retrying (1 s + 2 s of backoff).
    "BACKOFFICE_RETRYING_NOTICE_AFTER_ATTEMPTS": "3",
    # Lead-to-cash timers of seconds: nurture emails, a silent deal, an unsigned contract.
    "BACKOFFICE_NURTURE_OFFSETS": '["PT0S", "PT1S"]',
    "BACKOFFICE_DEAL_OWNER_REMINDER_AFTER": "PT5S",
    "BACKOFFICE_DEAL_STALE_AFTER": "PT10S",
    "BACKOFFICE_SIGNATURE_REMINDER_AFTER": "PT5S",
    "BACKOFFICE_SIGNATURE_TIMEOUT": "PT10S",
    # Every test signs in from 127.0.0.1: the per-address throttle (tested on its own in
    # tests/api/test_lockout.py) must not let one test's wrong passwords lock out the next.
    "BACKOFFICE_SIGN_IN_MAX_FAILURES_PER_ADDRESS": "100000",
    # The API's approvals-pending gauge follows visibility within a second.
    "BACKOFFICE_APPROVALS_GAUGE_REFRESH_SECONDS": "1",
    # Circuit breakers of seconds: more failures than one run's retries make in the window (a
    # test's fault on one run never opens it), a cool-down of 3 s.
    "BACKOFFICE_CIRCUIT_BREAKER": (
        '{"failures": 10, "window": "PT20S", "cool_down": "PT3S", "probe_timeout": "PT5S"}'
    ),
}

# A new payload data key every 3 s in every process, so runs cross key rotations in a test.
SHORT_KEY_ROTATION = {"BACKOFFICE_PAYLOAD_KEY_ROTATE_AFTER": "PT3S"}


def worker_wanted() -> bool:
    """BACKOFFICE_TEST_WORKER=0 runs the stack without the worker (for devstack's own tests)."""
    return os.environ.get("BACKOFFICE_TEST_WORKER", "1") != "0"


def free_port_config(
    data_dir: Path,
    *,
    with_worker: bool = False,
    extra_env: Mapping[str, str] | None = None,
    database_url: str | None = None,
    sandbox_database_url: str | None = None,
) -> StackConfig:
    """Every port 0 (a free one), data in `data_dir`, timeouts short enough for a test;
    the databases are SQLite files in `data_dir` unless URLs are given."""
    return StackConfig(
        data_dir=data_dir,
        temporal_port=0,
        temporal_ui_port=0,
        temporal_http_port=0,
        temporal_metrics_port=0,
        vault_port=0,
        sandbox_port=0,
        api_port=0,
        smtp_port=0,
        mailpit_ui_port=0,
        with_worker=with_worker,
        extra_env=dict(extra_env or {}),
        database_url=database_url,
        sandbox_database_url=sandbox_database_url,
        start_timeout_seconds=60,
        worker_ready_timeout_seconds=60,
    )


def start_stack(config: StackConfig) -> Stack:
    """Start a stack; a component that cannot start fails the test (an ERROR in a fixture)."""
    stack = Stack(config, say=lambda message: print(message, flush=True))
    try:
        stack.up()
    except StackError as exc:
        pytest.fail(f"the dev stack did not start:\n{exc}", pytrace=False)
    return stack
