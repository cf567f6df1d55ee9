"""rejected segment messages keep their endpoint and batch sentAt

Revision ID: ingest_0008
Revises: ingest_0007
Create Date: 2026-12-01 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ingest_0008"
down_revision: str | None = "ingest_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "rejected_events",
        sa.Column("segment_endpoint", sa.String(length=20), nullable=True),
        schema="ingest",
    )
    op.add_column(
        "rejected_events",
        sa.Column("batch_sent_at", sa.DateTime(timezone=True), nullable=True),
        schema="ingest",
    )


def downgrade() -> None:
    op.drop_column("rejected_events", "batch_sent_at", schema="ingest")
    op.drop_column("rejected_events", "segment_endpoint", schema="ingest")
