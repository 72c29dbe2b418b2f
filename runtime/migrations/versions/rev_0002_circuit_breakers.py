"""The circuit breakers' table (runtime/circuit.py): one row per external system that has
failed or was opened by hand; times in unix seconds.

Revision 0002; written 2026-12-06.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "circuit_breakers",
        sa.Column("system", sa.String(32), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.Float(), nullable=False),
        sa.Column("open_until", sa.Float(), nullable=True),
        sa.Column("probe_until", sa.Float(), nullable=True),
        sa.Column("manual_reason", sa.String(500), nullable=True),
        sa.Column("changed_at", sa.Float(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("circuit_breakers")
