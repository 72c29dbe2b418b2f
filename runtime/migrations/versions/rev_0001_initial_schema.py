"""The app's tables as they were before migrations (what `Base.metadata.create_all` made):
HTTP audit, webhook events, inbox sessions, sign-in failures, used approval links and codec
tickets, with their indexes. Frozen here as `METADATA`: `runtime.schema` compares a database
made before migrations with it before stamping it at this revision.

Revision 0001; written 2026-12-06.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

METADATA = sa.MetaData()


def _text(name: str, length: int, *, nullable: bool = False, index: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=nullable, index=index)


def _moment(name: str, *, nullable: bool = False, index: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, index=index)


def _number(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=nullable)


sa.Table(
    "http_audit",
    METADATA,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    _moment("at", index=True),
    _text("workflow_id", 200, nullable=True, index=True),
    _text("run_id", 64, nullable=True),
    _text("activity_id", 200, nullable=True),
    _text("activity_type", 200, nullable=True),
    _number("attempt"),
    _text("system", 32, index=True),
    _text("method", 8),
    _text("path", 500),
    _number("status", nullable=True),
    sa.Column("latency_ms", sa.Float(), nullable=False),
    _text("error_code", 100, nullable=True),
    sa.Column("request_summary", sa.Text(), nullable=True),
    sa.Column("response_summary", sa.Text(), nullable=True),
)
sa.Table(
    "webhook_events",
    METADATA,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    _text("system", 32),
    _text("event_id", 200),
    _text("event_type", 100),
    _text("status", 20, index=True),
    _text("workflow_id", 200, nullable=True),
    _text("signal", 100, nullable=True),
    _text("reason", 500, nullable=True),
    sa.Column("payload", sa.Text(), nullable=False),
    _number("deliveries"),
    _moment("received_at"),
    _moment("updated_at"),
    # Unnamed, as create_all made it: the database names it.
    sa.UniqueConstraint("system", "event_id"),
)
sa.Table(
    "inbox_sessions",
    METADATA,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    _text("approver_id", 64),
    _text("csrf_token", 64),
    _moment("created_at"),
    _moment("expires_at", index=True),
)
sa.Table(
    "sign_in_failures",
    METADATA,
    sa.Column("approver_id", sa.String(64), primary_key=True),
    _number("failures"),
    _moment("first_failed_at"),
    _moment("locked_until", nullable=True),
)
sa.Table(
    "used_approval_links",
    METADATA,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    _text("workflow_id", 255),
    _text("approval_id", 64),
    _text("approver_id", 64),
    _text("decision", 16),
    _moment("used_at"),
    _text("outcome", 500, nullable=True),
)
sa.Table(
    "used_codec_tickets",
    METADATA,
    sa.Column("ticket_hash", sa.String(64), primary_key=True),
    _moment("used_at"),
    _moment("expires_at"),
)


def upgrade() -> None:
    METADATA.create_all(op.get_bind())


def downgrade() -> None:
    METADATA.drop_all(op.get_bind())
