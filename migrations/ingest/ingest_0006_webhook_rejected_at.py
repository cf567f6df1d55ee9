"""webhook events that cannot apply are rejected, not pending

Revision ID: ingest_0006
Revises: ingest_0005
Create Date: 2026-12-01 09:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ingest_0006"
down_revision: str | None = "ingest_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "webhook_events",
        sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=True),
        schema="ingest",
    )
    op.drop_index(
        "ix_webhook_pending",
        table_name="webhook_events",
        schema="ingest",
        postgresql_where=sa.text("applied_at IS NULL"),
    )
    op.create_index(
        "ix_webhook_pending",
        "webhook_events",
        ["customer_ref"],
        unique=False,
        schema="ingest",
        postgresql_where=sa.text("applied_at IS NULL AND rejected_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_webhook_pending",
        table_name="webhook_events",
        schema="ingest",
        postgresql_where=sa.text("applied_at IS NULL AND rejected_at IS NULL"),
    )
    op.create_index(
        "ix_webhook_pending",
        "webhook_events",
        ["customer_ref"],
        unique=False,
        schema="ingest",
        postgresql_where=sa.text("applied_at IS NULL"),
    )
    op.drop_column("webhook_events", "rejected_at", schema="ingest")
