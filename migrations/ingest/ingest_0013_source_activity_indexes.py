"""source activity indexes

Revision ID: ingest_0013
Revises: ingest_0012
Create Date: 2026-12-01 19:50:00

GET /v1/sources says each source's last event and its counts over the last day and week:
these indexes make each of those reads an index range scan over the source's own recent
rows (events and webhook events by source id, rejections by their source label), never a
scan of the whole table.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "ingest_0013"
down_revision: str | None = "ingest_0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_events_source_received",
        "events",
        ["source_id", "received_at"],
        unique=False,
        schema="ingest",
    )
    op.create_index(
        "ix_webhook_events_source_received",
        "webhook_events",
        ["source_id", "received_at"],
        unique=False,
        schema="ingest",
    )
    op.create_index(
        "ix_rejected_source_received",
        "rejected_events",
        ["source", "received_at"],
        unique=False,
        schema="ingest",
    )


def downgrade() -> None:
    op.drop_index("ix_rejected_source_received", table_name="rejected_events", schema="ingest")
    op.drop_index("ix_webhook_events_source_received", table_name="webhook_events", schema="ingest")
    op.drop_index("ix_events_source_received", table_name="events", schema="ingest")
