"""event log: the timestamp as sent, and a user's events by time

Revision ID: ingest_0010
Revises: ingest_0009
Create Date: 2026-12-01 09:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ingest_0010"
down_revision: str | None = "ingest_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "events",
        sa.Column("sent_ts", sa.DateTime(timezone=True), nullable=True),
        schema="ingest",
    )
    op.create_index(
        "ix_events_user_ts", "events", ["user_id", "ts", "id"], unique=False, schema="ingest"
    )


def downgrade() -> None:
    op.drop_index("ix_events_user_ts", table_name="events", schema="ingest")
    op.drop_column("events", "sent_ts", schema="ingest")
