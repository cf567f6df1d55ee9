"""ingest audit log: who created, rotated and disabled sources, changed the event map,
replayed rejected events and rebuilt rollups (the console's audit log)

Revision ID: ingest_0014
Revises: ingest_0013
Create Date: 2026-12-01 23:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "ingest_0014"
down_revision: str | None = "ingest_0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("principal", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column(
            "detail",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        schema="ingest",
    )
    # The audit log reads them newest first.
    op.create_index("ix_audit_log_at_id", "audit_log", ["at", "id"], schema="ingest")


def downgrade() -> None:
    op.drop_index("ix_audit_log_at_id", "audit_log", schema="ingest")
    op.drop_table("audit_log", schema="ingest")
