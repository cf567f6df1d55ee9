"""rollup key covers the window counters

Revision ID: ingest_0012
Revises: ingest_0011
Create Date: 2026-12-01 13:30:00

The window aggregates scoring reads are answered from daily_rollups' primary key alone (an
index-only scan): its key is unchanged, and it now carries the counters the windows sum.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "ingest_0012"
down_revision: str | None = "ingest_0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTERS = (
    "events, logins, key_actions, integrations, api_calls, exports, tickets_opened,"
    " tickets_closed, payment_failures, invoices_paid"
)


def upgrade() -> None:
    op.execute(
        "ALTER TABLE ingest.daily_rollups DROP CONSTRAINT pk_daily_rollups,"
        " ADD CONSTRAINT pk_daily_rollups PRIMARY KEY (account_id, day)"
        f" INCLUDE ({_COUNTERS})"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE ingest.daily_rollups DROP CONSTRAINT pk_daily_rollups,"
        " ADD CONSTRAINT pk_daily_rollups PRIMARY KEY (account_id, day)"
    )
