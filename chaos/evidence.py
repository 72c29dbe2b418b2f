"""What the invariants are checked against, read from where a user would look: the sandbox's
ledger and webhook log (what every system holds and was sent), mailpit (every email), the
application database (the audit row of every HTTP attempt, the webhook inbox) and each run's
`status` query."""

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, field_validator
from sqlalchemy import select

from devstack.mailbox import Mailbox
from runtime.db import AuditRow, WebhookEvent, make_engine


class Ledger:
    """The sandbox's record of everything every system holds and every change made."""

    def __init__(self, records: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
        self.records = records
        self.events = events

    @classmethod
    def read(cls, admin: httpx.Client, mailpit_url: str, *, drop_repeats: bool = True) -> "Ledger":
        """The sandbox's ledger, with every email mailpit received as a `mail` record. SMTP has
        no idempotency: a retry after a connection lost past DATA delivers the same message
        again under its Message-ID, which a receiver drops; `drop_repeats` does the same."""
        data = admin.get("/_admin/ledger").raise_for_status().json()
        mail = Mailbox(mailpit_url).records(drop_repeats=drop_repeats)
        return cls(data["records"] + mail, data["events"])

    def of(self, external_ref: str, kind: str | None = None) -> list[dict[str, Any]]:
        """Records whose external ref (or `business_key` tag) is `external_ref`."""
        return [
            r
            for r in self.records
            if (r.get("external_ref") == external_ref or tagged(r, external_ref))
            and (kind is None or r["kind"] == kind)
        ]

    def emails(self, business_key: str, template: str | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.records
            if r["system"] == "mail"
            and tagged(r, business_key)
            and (template is None or r["data"].get("template") == template)
        ]

    def notifications(self, business_key: str, notification: str) -> list[dict[str, Any]]:
        return [
            r
            for r in self.records
            if r["system"] == "mail"
            and tagged(r, business_key)
            and (r["data"].get("tags") or {}).get("notification") == notification
        ]

    def events_for(self, record_ids: Iterable[str]) -> list[dict[str, Any]]:
        wanted = set(record_ids)
        return [e for e in self.events if e.get("record_id") in wanted]

    def actions(self, record: dict[str, Any], action: str) -> int:
        """How often `action` happened to `record` (e.g. `deactivated`)."""
        return sum(
            1
            for e in self.events
            if e.get("record_id") == record["id"]
            and e["system"] == record["system"]
            and e["action"] == action
        )


def tagged(record: dict[str, Any], business_key: str) -> bool:
    tags = (record.get("data") or {}).get("tags") or {}
    return bool(tags.get("business_key") == business_key)


class AuditAttempt(BaseModel):
    """One HTTP attempt to an external system, as the audit log recorded it."""

    at: datetime
    workflow_id: str | None
    activity_id: str | None
    activity_type: str | None
    attempt: int
    system: str
    method: str
    path: str
    status: int | None
    latency_ms: float
    error_code: str | None
    request_summary: str | None = None
    response_summary: str | None = None

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        """SQLite hands back naive times; the audit log writes UTC."""
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class InboxRow(BaseModel):
    """One provider event in the webhook inbox."""

    system: str
    event_id: str
    event_type: str
    status: str
    workflow_id: str | None
    deliveries: int


def audit_rows(database_url: str, workflow_id: str | None = None) -> list[AuditAttempt]:
    """Every audited HTTP attempt (of one run, when given), oldest first."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            query = select(AuditRow).order_by(AuditRow.id)
            if workflow_id is not None:
                query = query.where(AuditRow.workflow_id == workflow_id)
            return [
                AuditAttempt.model_validate(row, from_attributes=True)
                for row in conn.execute(query)
            ]
    finally:
        engine.dispose()


def inbox_rows(database_url: str) -> list[InboxRow]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(WebhookEvent).order_by(WebhookEvent.id))
            return [InboxRow.model_validate(row, from_attributes=True) for row in rows]
    finally:
        engine.dispose()


class Evidence(BaseModel):
    """Everything one check of the invariants looks at, read once after a plan."""

    records: list[dict[str, Any]]
    events: list[dict[str, Any]]
    webhook_events: list[dict[str, Any]]
    inbox: list[InboxRow]
    audit: list[AuditAttempt]
    statuses: dict[str, dict[str, Any]]

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.records, self.events)


def collect(
    admin: httpx.Client,
    mailpit_url: str,
    database_url: str,
    statuses: dict[str, dict[str, Any]],
) -> Evidence:
    """Read the ledger (mail from mailpit), the sandbox's webhook events, the inbox and the
    audit rows now."""
    ledger = Ledger.read(admin, mailpit_url)
    events = admin.get("/_admin/webhooks/events").raise_for_status().json()["events"]
    return Evidence(
        records=ledger.records,
        events=ledger.events,
        webhook_events=events,
        inbox=inbox_rows(database_url),
        audit=audit_rows(database_url),
        statuses=statuses,
    )
