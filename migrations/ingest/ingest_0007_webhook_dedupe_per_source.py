"""webhook events are deduplicated per source

Revision ID: ingest_0007
Revises: ingest_0006
Create Date: 2026-12-01 09:25:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "ingest_0007"
down_revision: str | None = "ingest_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("pk_webhook_events", "webhook_events", schema="ingest", type_="primary")
    op.create_primary_key(
        "pk_webhook_events", "webhook_events", ["source_id", "event_id"], schema="ingest"
    )


def downgrade() -> None:
    # Events two sources share an id with cannot both stay under a global key: the first kept.
    op.execute(
        "DELETE FROM ingest.webhook_events AS w USING ingest.webhook_events AS o"
        " WHERE w.event_id = o.event_id"
        " AND (w.received_at, w.source_id) > (o.received_at, o.source_id)"
    )
    op.drop_constraint("pk_webhook_events", "webhook_events", schema="ingest", type_="primary")
    op.create_primary_key("pk_webhook_events", "webhook_events", ["event_id"], schema="ingest")
