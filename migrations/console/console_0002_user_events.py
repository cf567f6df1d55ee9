"""console user events: every change to the console's people, by whom, for the audit log

Revision ID: console_0002
Revises: console_0001
Create Date: 2026-12-01 23:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "console_0002"
down_revision: str | None = "console_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column("principal", sa.String(length=200), nullable=False),
        sa.Column("roles", postgresql.ARRAY(sa.String(length=20)), nullable=False),
        sa.CheckConstraint(
            "event IN ('created', 'reset', 'disabled')", name=op.f("ck_user_events_event")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_events")),
        schema="console",
    )
    # The audit log reads them newest first.
    op.create_index("ix_user_events_at_id", "user_events", ["at", "id"], schema="console")


def downgrade() -> None:
    op.drop_index("ix_user_events_at_id", "user_events", schema="console")
    op.drop_table("user_events", schema="console")
