"""The app's tables as they were before migrations (what `Base.metadata.create_all` made):
HTTP audit, webhook events, inbox sessions, sign-in failures, used approval links and codec
tickets, with their indexes. A database made by create_all is stamped at this revision.

Revision 0001; written 2026-12-06.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _moment(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "http_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _moment("at"),
        sa.Column("workflow_id", sa.String(length=200), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("activity_id", sa.String(length=200), nullable=True),
        sa.Column("activity_type", sa.String(length=200), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("error_code", sa.String(length=100), nullable=True),
        sa.Column("request_summary", sa.Text(), nullable=True),
        sa.Column("response_summary", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("at", "system", "workflow_id"):
        op.create_index(f"ix_http_audit_{column}", "http_audit", [column])

    op.create_table(
        "inbox_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("approver_id", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        _moment("created_at"),
        _moment("expires_at"),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_inbox_sessions_expires_at", "inbox_sessions", ["expires_at"])

    op.create_table(
        "sign_in_failures",
        sa.Column("approver_id", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        _moment("first_failed_at"),
        _moment("locked_until", nullable=True),
        sa.PrimaryKeyConstraint("approver_id"),
    )
    op.create_table(
        "used_approval_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("workflow_id", sa.String(length=255), nullable=False),
        sa.Column("approval_id", sa.String(length=64), nullable=False),
        sa.Column("approver_id", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        _moment("used_at"),
        sa.Column("outcome", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_table(
        "used_codec_tickets",
        sa.Column("ticket_hash", sa.String(length=64), nullable=False),
        _moment("used_at"),
        _moment("expires_at"),
        sa.PrimaryKeyConstraint("ticket_hash"),
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("workflow_id", sa.String(length=200), nullable=True),
        sa.Column("signal", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        _moment("received_at"),
        _moment("updated_at"),
        sa.PrimaryKeyConstraint("id"),
        # Unnamed, as create_all made it: the database names it (a stamped one has that name).
        sa.UniqueConstraint("system", "event_id"),
    )
    op.create_index("ix_webhook_events_status", "webhook_events", ["status"])


def downgrade() -> None:
    for table in (
        "webhook_events",
        "used_codec_tickets",
        "used_approval_links",
        "sign_in_failures",
        "inbox_sessions",
        "http_audit",
    ):
        op.drop_table(table)  # its indexes go with it
