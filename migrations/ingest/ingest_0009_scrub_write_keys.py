"""rejected events no longer keep a Segment writeKey sent in the body

Revision ID: ingest_0009
Revises: ingest_0008
Create Date: 2026-12-01 09:35:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "ingest_0009"
down_revision: str | None = "ingest_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Kept before intake stripped them: a write key readable by any ingest:read key.
    op.execute(
        "UPDATE ingest.rejected_events SET raw = raw - 'writeKey'"
        " WHERE jsonb_typeof(raw) = 'object' AND raw ? 'writeKey'"
    )


def downgrade() -> None:
    # The keys removed are not kept anywhere: nothing to put back.
    pass
