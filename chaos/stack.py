"""The suite's own stack: a temp data dir, free ports, a file-storage Vault (so it can be sealed
and restarted), and timers of seconds so approvals, reminders and nurture emails happen inside a
run."""

from collections.abc import Callable
from pathlib import Path

from devstack.config import StackConfig
from devstack.ports import PortPicker
from devstack.stack import Stack

# Seconds instead of days; the final expiry and timeouts stay far beyond any fault of the suite,
# so that an outage delays a run but never changes how it ends.
CHAOS_ENV = {
    "BACKOFFICE_APPROVAL_REMIND_AFTER": "PT5S",
    "BACKOFFICE_APPROVAL_ESCALATE_AFTER": "PT5S",
    "BACKOFFICE_APPROVAL_EXPIRE_AFTER": "PT15M",
    "BACKOFFICE_NURTURE_OFFSETS": '["PT0S", "PT3S"]',
    "BACKOFFICE_DEAL_OWNER_REMINDER_AFTER": "PT8S",
    "BACKOFFICE_DEAL_STALE_AFTER": "PT15M",
    "BACKOFFICE_SIGNATURE_REMINDER_AFTER": "PT8S",
    "BACKOFFICE_SIGNATURE_TIMEOUT": "PT15M",
    # How long a step retries before it gives up: 3 and 7 days, scaled by the factor that
    # makes 4 days of approval 15 minutes (1/288 here, for 3 days). The old one-hour give-up,
    # scaled alike, would be 12.5 s, which the outage plan's outage (20 s short, 180 s full)
    # outlasts: its runs must wait the outage out, not give up and be compensated.
    "BACKOFFICE_STEP_GIVE_UP_AFTER": "PT15M",
    "BACKOFFICE_COMMITTED_STEP_GIVE_UP_AFTER": "PT35M",
    # A subscription's period: its run bills one, is cancelled at its end, and ends.
    "BACKOFFICE_SUBSCRIPTION_PERIOD_LENGTH": "PT15S",
    # Credentials read from Vault again every few seconds, so a Vault fault is felt at once.
    "BACKOFFICE_SECRET_CACHE_SECONDS": "2",
    # A new payload data key every 20 s: runs cross key rotations, and a sealed Vault is felt
    # by the data converter too.
    "BACKOFFICE_PAYLOAD_KEY_ROTATE_AFTER": "PT20S",
    # An answer slower than this is a timeout (the slow-response faults go past it).
    "BACKOFFICE_HTTP_TIMEOUT_SECONDS": "3",
    # Circuit breakers of seconds: a storm (a share of 5xx) rarely opens one, and then for 5 s;
    # an outage (the outage plan) opens it within seconds.
    "BACKOFFICE_CIRCUIT_BREAKER": (
        '{"failures": 8, "window": "PT10S", "cool_down": "PT5S", "probe_timeout": "PT5S"}'
    ),
    # The ERP (down for minutes in the outage plan) gets a rate limit like enrichment's, so the
    # backlog after the outage is paced.
    "BACKOFFICE_RATE_LIMITS": '{"enrichment": 5, "erp": 5}',
    # A SIGTERMed worker waits this long for activities in flight, then cancels them.
    "BACKOFFICE_WORKER_SHUTDOWN_GRACE_SECONDS": "3",
}


def chaos_config(data_dir: Path, smtp_proxy_port: int) -> StackConfig:
    """Every port free, SQLite databases and a file-storage Vault in `data_dir`; the worker
    sends mail to the suite's SMTP proxy (`chaos.smtp_proxy`) on `smtp_proxy_port`, in front
    of mailpit."""
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
        with_worker=True,
        vault_storage="file",
        extra_env={**CHAOS_ENV, "BACKOFFICE_SMTP_PORT": str(smtp_proxy_port)},
        start_timeout_seconds=120,
        worker_ready_timeout_seconds=120,
        worker_stop_timeout_seconds=30,
    )


def start_chaos_stack(data_dir: Path, say: Callable[[str], None]) -> tuple[Stack, int]:
    """The stack, and the port its worker sends mail to (the SMTP proxy's, not yet listening)."""
    with PortPicker("127.0.0.1") as picker:
        proxy_port = picker.pick()
    stack = Stack(chaos_config(data_dir, proxy_port), say=say)
    stack.up()
    return stack, proxy_port
