"""Settings, read once per process from `BACKOFFICE_*` variables (and the dev stack's env file).

Temporal's own connection settings (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, TLS, API key,
TOML profiles) are not here: `runtime.temporal` reads them through Temporal's environment
configuration.
"""

import os
import re
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.approvals import ApprovalTimeouts, AttentionPolicy
from domain.invoice import InvoicePolicy
from domain.lead import LeadPolicy
from domain.reconciliation import UnknownTimeZone, time_zone
from domain.retries import RetryBudgets
from domain.subscription import SubscriptionPolicy
from domain.systems import System
from domain.vendor import OnboardingPolicy
from runtime.circuit import CircuitPolicy

ENV_PREFIX = "BACKOFFICE_"
SLACK_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,30}$")
DEFAULT_DATA_DIR = Path(".data")


class SettingsError(Exception):
    """A setting is missing or wrong; the message names it and says what is wrong."""


def env_file_path() -> Path:
    """The dev stack writes its addresses here; an explicit BACKOFFICE_ENV_FILE wins."""
    explicit = os.environ.get(f"{ENV_PREFIX}ENV_FILE")
    if explicit:
        return Path(explicit)
    data_dir = Path(os.environ.get(f"{ENV_PREFIX}DATA_DIR", DEFAULT_DATA_DIR))
    return data_dir / "devstack" / "backoffice.env"


def env_file_values() -> dict[str, str]:
    path = env_file_path()
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def _default_database_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'backoffice.db'}"


def database_url() -> str:
    """The app database's URL as `Settings.resolved_database_url` resolves it, without the rest
    of the settings: migrating the schema needs no Vault login."""
    values = {**env_file_values(), **os.environ}
    explicit = values.get(f"{ENV_PREFIX}DATABASE_URL", "")
    data_dir = Path(values.get(f"{ENV_PREFIX}DATA_DIR") or DEFAULT_DATA_DIR)
    return explicit or _default_database_url(data_dir)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    vault_addr: str = Field(pattern=r"^https?://")
    vault_role_id: str = Field(min_length=1)
    vault_secret_id: SecretStr
    vault_kv_mount: str = "secret"
    vault_prefix: str = "backoffice"
    secret_cache_seconds: float = Field(default=30.0, ge=0)

    sandbox_url: str = Field(default="http://127.0.0.1:8400", pattern=r"^https?://")
    sandbox_admin_token: SecretStr | None = None
    system_urls: dict[System, str] = {}
    http_timeout_seconds: float = Field(default=10.0, gt=0)
    # Mail goes out over SMTP (activities/smtp.py): the relay, how the connection is secured
    # (`none`, `starttls` or `tls` for implicit TLS, usually port 465), and the sender. AUTH
    # uses `username` and `password` from Vault at systems/mail when they are there.
    smtp_host: str = Field(default="127.0.0.1", min_length=1)
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    # A PEM bundle of the CAs the relay's certificate is checked against (unset: the system's).
    smtp_ca_file: Path | None = None
    mail_from: str = Field(default="backoffice@company.example", pattern=r"^[^@\s<>]+@[^@\s<>]+$")
    rate_limits: dict[System, float] = {System.ENRICHMENT: 5.0}
    # Circuit breakers (runtime/circuit.py): when a system's breaker opens and for how long, for
    # every system, and per system where it differs (e.g. {"erp": {"failures": 10}}).
    circuit_breaker: CircuitPolicy = CircuitPolicy()
    circuit_breakers: dict[System, CircuitPolicy] = {}
    # Approvals in Slack: role -> channel id (e.g. {"procurement": "C0123ABCD"}); a role without
    # one gets direct messages to its approvers who have a `slack_user_id` in the directory.
    slack_channels: dict[str, str] = {}
    database_url: str = ""
    temporal_ui_url: str = Field(default="http://127.0.0.1:8233", pattern=r"^https?://")
    api_url: str = Field(default="http://127.0.0.1:8000", pattern=r"^https?://")
    api_max_body_bytes: int = Field(default=65536, ge=1024)
    # How long a verified API credential is reused before it is checked against Vault again.
    api_auth_cache_seconds: float = Field(default=60.0, ge=0)
    webhook_tolerance_seconds: int = Field(default=300, ge=1)
    # Telemetry (runtime/telemetry.py). Traces go over OTLP/HTTP to this collector URL (e.g.
    # http://127.0.0.1:4318); unset, nothing is exported. Metrics: the Prometheus endpoint
    # (`host:port`, scraped at /metrics) of the worker and of the API; unset, none.
    otlp_endpoint: str | None = None
    worker_metrics_address: str | None = None
    api_metrics_address: str | None = None
    # How often the API counts pending approvals per role in Temporal visibility (a gauge).
    approvals_gauge_refresh_seconds: float = Field(default=15.0, gt=0)
    # The approval inbox: how long a sign-in lasts, and how long an emailed approve/reject link
    # stays usable (counted from when its email was scheduled).
    inbox_session_expiry: timedelta = timedelta(hours=8)
    approval_link_expiry: timedelta = timedelta(hours=72)
    # Guessed passwords (starters/api/lockout.py): this many wrong ones for an approver id within
    # `sign_in_lockout`, and the id is refused for `sign_in_lockout` (inbox and HTTP Basic).
    sign_in_max_failures: int = Field(default=5, ge=1)
    # Likewise per client address, whatever the ids tried (a spray over many ids).
    sign_in_max_failures_per_address: int = Field(default=50, ge=1)
    sign_in_lockout: timedelta = timedelta(minutes=15)
    # Payload encryption (runtime/codec.py): one data key from the transit key seals new payloads
    # for `payload_key_rotate_after`; an unwrapped data key stays in memory `_cache_seconds`.
    vault_transit_mount: str = "transit"
    payload_transit_key: str = "backoffice-payloads"
    payload_key_rotate_after: timedelta = timedelta(minutes=15)
    payload_key_cache_seconds: float = Field(default=3600.0, gt=0)
    # The codec server (/codec, for the Temporal Web UI): its bearer token's path in Vault.
    codec_token_path: str = "codec/token"  # noqa: S105 (a path, not a token)
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    # The worker's and the API's log lines (runtime/logs.py): one JSON object each, or text.
    log_format: Literal["json", "text"] = "json"
    worker_shutdown_grace_seconds: float = Field(default=20.0, ge=0)
    # Worker tuning (docs/performance.md says how these defaults were chosen). Runs kept in
    # memory between their tasks (0: none, every task replays its history): about 0.3 MiB each;
    # 500 (the SDK says 1000) keeps a worker under ~300 MiB with any number of runs waiting,
    # and holds every run in flight of the benchmark's backlogs. Unset = the SDK's default.
    worker_max_cached_workflows: int = Field(default=500, ge=0)
    worker_max_concurrent_workflow_tasks: int | None = Field(default=None, ge=2)
    worker_max_concurrent_activities: int | None = Field(default=None, ge=1)
    worker_workflow_task_pollers: int | None = Field(default=None, ge=2)
    worker_activity_task_pollers: int | None = Field(default=None, ge=1)
    # Worker Versioning (docs/deploying.md): every worker is a version of this Worker
    # Deployment; its build id is the package version unless set (e.g. to the image's git sha).
    worker_deployment_name: str = Field(default="backoffice", pattern=r"^[A-Za-z0-9_-]{1,100}$")
    worker_build_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.+-]{1,100}$")
    # Whether a starting worker makes its version the deployment's current one: only when there
    # is none yet (`first`: the first deploy), every time (`always`: the dev stack), or never
    # (the operator promotes it after `backoffice replay-check`).
    worker_become_current: Literal["first", "always", "never"] = "first"

    high_risk_countries: list[str] = ["CU", "IR", "KP", "RU", "SY"]
    procurement_role: str = "procurement"
    procurement_escalation_role: str = "procurement-lead"
    # The review queue (docs/operations.md): who resolves a run that needs attention.
    operations_role: str = Field(default="operations", min_length=1)
    operations_escalation_role: str = Field(default="operations-lead", min_length=1)
    approval_remind_after: timedelta = timedelta(days=1)
    approval_escalate_after: timedelta = timedelta(days=2)
    approval_expire_after: timedelta = timedelta(days=4)
    # Compensations retry until `compensation_give_up_after` (0 attempts: no other limit);
    # steps past the point of no return (after the signature, after sending) until
    # `committed_step_give_up_after`.
    compensation_attempts: int = Field(default=0, ge=0)
    compensation_give_up_after: timedelta = timedelta(days=3)
    step_give_up_after: timedelta = timedelta(days=3)
    committed_step_give_up_after: timedelta = timedelta(days=7)
    # A step whose attempt number this many fails (and will be retried) shows `Stage` retrying.
    retrying_notice_after_attempts: int = Field(default=5, ge=1)

    invoice_approval_threshold_cents: int = Field(default=1_000_000, ge=0)
    finance_role: str = "finance"
    finance_escalation_role: str = "finance-lead"
    collections_role: str = "collections"
    dunning_offsets: list[timedelta] = [timedelta(days=-3), timedelta(days=1), timedelta(days=7)]

    lead_qualify_at: int = Field(default=60, ge=0, le=125)
    lead_budget_floor_cents: int = Field(default=1_000_000, ge=0)
    lead_target_industries: list[str] = ["software", "financial services", "manufacturing"]
    sales_reps: list[str] = Field(
        default=["ana@company.example", "ben@company.example"], min_length=1
    )
    price_per_seat_cents: int = Field(default=120_000, ge=0)
    sales_tax_rate_bp: int = Field(default=1900, ge=0, le=10_000)
    discount_limit_bp: int = Field(default=1000, ge=0, le=10_000)
    sales_approver_role: str = "sales-manager"
    sales_escalation_role: str = "sales-director"
    nurture_offsets: list[timedelta] = [timedelta(0), timedelta(days=3), timedelta(days=10)]
    deal_owner_reminder_after: timedelta = timedelta(days=7)
    deal_stale_after: timedelta = timedelta(days=30)
    signature_reminder_after: timedelta = timedelta(days=3)
    signature_timeout: timedelta = timedelta(days=14)

    # Subscriptions: how far back an anchor may lie, how long a period is when not a calendar
    # month or year (seconds in tests and demos), how long past due lasts before the customer's
    # portal accounts are suspended, and who may change what.
    subscription_max_anchor_age: timedelta = Field(default=timedelta(days=31), ge=timedelta(0))
    subscription_period_length: timedelta | None = Field(default=None, gt=timedelta(0))
    subscription_suspend_after: timedelta = Field(default=timedelta(days=14), ge=timedelta(0))
    subscription_sales_role: str = Field(default="sales", min_length=1)

    # The daily reconciliation: its schedule (a local time of day in that time zone), how far
    # back the schedule catches up after an outage, and where the accounting export goes.
    reconciliation_time_zone: str = "UTC"
    reconciliation_at: time = time(2, 0)
    reconciliation_catchup_window: timedelta = timedelta(days=1)
    reconciliation_give_up_after: timedelta = timedelta(minutes=15)
    # Paging (see workflows/reconciliation_pages.py): billing's list page, pages per run, CRM
    # calls in flight, and how long a CRM outage holds a run before its deals are unresolved.
    reconciliation_page_size: int = Field(default=100, ge=1, le=100)
    reconciliation_pages_per_run: int = Field(default=5, ge=1, le=10)
    reconciliation_crm_in_flight: int = Field(default=10, ge=1, le=100)
    reconciliation_crm_outage_hold: timedelta = timedelta(days=1)
    # The day billing went live: no day before it is reconciled (a typo, not a plan).
    billing_since: date = date(2000, 1, 1)
    export_dir: Path | None = None

    @field_validator("slack_channels")
    @classmethod
    def _slack_channel_ids(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(role for role, channel in value.items() if not SLACK_CHANNEL.match(channel))
        if bad:
            raise ValueError(
                f"roles {', '.join(bad)}: a Slack channel id looks like C0123ABCD (the channel's "
                "details in Slack show it), not a name"
            )
        return value

    @field_validator("high_risk_countries")
    @classmethod
    def _country_codes(cls, value: list[str]) -> list[str]:
        bad = [c for c in value if len(c) != 2 or not c.isalpha()]
        if bad:
            raise ValueError(f"not ISO 3166-1 alpha-2 country codes: {', '.join(bad)}")
        return [c.upper() for c in value]

    @field_validator("smtp_ca_file")
    @classmethod
    def _ca_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value} (a PEM bundle of the SMTP relay's CAs)")
        return value

    @field_validator("dunning_offsets")
    @classmethod
    def _some_offsets(cls, value: list[timedelta]) -> list[timedelta]:
        if not value:
            raise ValueError("needs at least one reminder offset")
        return sorted(value)

    @field_validator("approval_remind_after", "approval_escalate_after", "approval_expire_after")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value

    @field_validator("inbox_session_expiry", "approval_link_expiry", "sign_in_lockout")
    @classmethod
    def _positive_inbox_duration(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value

    @field_validator("payload_key_rotate_after")
    @classmethod
    def _positive_rotation(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value

    @field_validator("reconciliation_time_zone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        try:
            time_zone(value)
        except UnknownTimeZone as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("reconciliation_at")
    @classmethod
    def _local_time(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError(
                "a local time of day such as 02:00, without an offset "
                "(BACKOFFICE_RECONCILIATION_TIME_ZONE sets the zone)"
            )
        return value

    @field_validator(
        "reconciliation_catchup_window",
        "reconciliation_give_up_after",
        "reconciliation_crm_outage_hold",
    )
    @classmethod
    def _positive_duration(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value

    @field_validator(
        "otlp_endpoint",
        "worker_metrics_address",
        "api_metrics_address",
        "worker_build_id",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("otlp_endpoint")
    @classmethod
    def _collector_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value):
            raise ValueError(
                "must be the http(s) URL of an OTLP/HTTP collector, e.g. http://127.0.0.1:4318 "
                "(leave it unset to export no traces)"
            )
        return value.rstrip("/") if value else value

    @field_validator("worker_metrics_address", "api_metrics_address")
    @classmethod
    def _listen_address(cls, value: str | None) -> str | None:
        if value is None:
            return value
        match = re.match(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$", value)
        if not match or not 1 <= int(match.group(2)) <= 65535:
            raise ValueError(
                "must be host:port to serve Prometheus metrics on, e.g. 127.0.0.1:9464 "
                "(leave it unset for no endpoint)"
            )
        return value

    def circuit_policy(self, system: System) -> CircuitPolicy:
        return self.circuit_breakers.get(system, self.circuit_breaker)

    def system_url(self, system: System) -> str:
        """Base URL of one system: its own setting, else the sandbox's prefix for it."""
        return self.system_urls.get(system) or f"{self.sandbox_url.rstrip('/')}/{system.value}"

    @property
    def resolved_export_dir(self) -> Path:
        return self.export_dir or self.data_dir / "exports"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or _default_database_url(self.data_dir)

    def onboarding_policy(self) -> OnboardingPolicy:
        return OnboardingPolicy(
            high_risk_countries=self.high_risk_countries,
            approver_role=self.procurement_role,
            escalation_role=self.procurement_escalation_role,
            approval_timeouts=self.approval_timeouts(),
            attention=self.attention_policy(),
            compensation_attempts=self.compensation_attempts,
            retries=self.retry_budgets(),
        )

    def lead_policy(self) -> LeadPolicy:
        return LeadPolicy(
            qualify_at=self.lead_qualify_at,
            budget_floor_cents=self.lead_budget_floor_cents,
            target_industries=self.lead_target_industries,
            sales_reps=self.sales_reps,
            price_per_seat_cents=self.price_per_seat_cents,
            tax_rate_bp=self.sales_tax_rate_bp,
            discount_limit_bp=self.discount_limit_bp,
            approver_role=self.sales_approver_role,
            escalation_role=self.sales_escalation_role,
            approval_timeouts=self.approval_timeouts(),
            attention=self.attention_policy(),
            nurture_offsets=self.nurture_offsets,
            owner_reminder_after=self.deal_owner_reminder_after,
            stale_after=self.deal_stale_after,
            signature_reminder_after=self.signature_reminder_after,
            signature_timeout=self.signature_timeout,
            compensation_attempts=self.compensation_attempts,
            retries=self.retry_budgets(),
            invoice=self.invoice_policy(),
            subscription=self.subscription_policy(),
        )

    def invoice_policy(self) -> InvoicePolicy:
        return InvoicePolicy(
            approval_threshold_cents=self.invoice_approval_threshold_cents,
            approver_role=self.finance_role,
            escalation_role=self.finance_escalation_role,
            collections_role=self.collections_role,
            approval_timeouts=self.approval_timeouts(),
            attention=self.attention_policy(),
            dunning_offsets=self.dunning_offsets,
            compensation_attempts=self.compensation_attempts,
            retries=self.retry_budgets(),
        )

    def subscription_policy(self) -> SubscriptionPolicy:
        return SubscriptionPolicy(
            max_anchor_age=self.subscription_max_anchor_age,
            period_length=self.subscription_period_length,
            suspend_after=self.subscription_suspend_after,
            sales_role=self.subscription_sales_role,
            finance_role=self.finance_role,
            invoice=self.invoice_policy(),
            retries=self.retry_budgets(),
        )

    def retry_budgets(self) -> RetryBudgets:
        return RetryBudgets(
            before_commit=self.step_give_up_after,
            after_commit=self.committed_step_give_up_after,
            compensation=self.compensation_give_up_after,
        )

    def attention_policy(self) -> AttentionPolicy:
        return AttentionPolicy(
            role=self.operations_role,
            escalation_role=self.operations_escalation_role,
            timeouts=self.approval_timeouts(),
        )

    def approval_timeouts(self) -> ApprovalTimeouts:
        return ApprovalTimeouts(
            remind_after=self.approval_remind_after,
            escalate_after=self.approval_escalate_after,
            expire_after=self.approval_expire_after,
        )


def load_settings(**overrides: Any) -> Settings:
    """Environment first, then the dev stack's env file; errors name the variable."""
    file_values = {
        k[len(ENV_PREFIX) :].lower(): v
        for k, v in env_file_values().items()
        if k.startswith(ENV_PREFIX) and k not in os.environ
    }
    try:
        return Settings(**{**file_values, **overrides})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ENV_PREFIX + "_".join(str(p) for p in err["loc"]).upper()
            problems.append(f"{name}: {err['msg']}")
        hint = "" if env_file_path().is_file() else " (is the dev stack up? `backoffice dev up`)"
        raise SettingsError("bad settings" + hint + ":\n  " + "\n  ".join(problems)) from None
