"""offers audit indexes: program and offer events by time, for GET /v1/audit

Revision ID: offers_0006
Revises: offers_0005
Create Date: 2026-12-01 19:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "offers_0006"
down_revision: str | None = "offers_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_program_events_at", "program_events", ["at", "id"], unique=False, schema="offers"
    )
    op.create_index(
        "ix_offer_events_at", "offer_events", ["at", "id"], unique=False, schema="offers"
    )


def downgrade() -> None:
    op.drop_index("ix_offer_events_at", table_name="offer_events", schema="offers")
    op.drop_index("ix_program_events_at", table_name="program_events", schema="offers")
