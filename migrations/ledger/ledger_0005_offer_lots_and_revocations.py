"""offer lots and revocations: a lot knows its grant's offer; revoked offers are kept

Revision ID: ledger_0005
Revises: ledger_0004
Create Date: 2026-12-01 15:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ledger_0005"
down_revision: str | None = "ledger_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "lots", sa.Column("offer_id", sa.String(length=200), nullable=True), schema="ledger"
    )
    # Lots granted before this revision take their grant's offer, so their later movements
    # are told to offers too.
    op.execute(
        "UPDATE ledger.lots AS l SET offer_id = t.offer_id FROM ledger.transactions AS t"
        " WHERE t.id = l.grant_id AND t.offer_id IS NOT NULL"
    )
    op.create_table(
        "offer_revocations",
        sa.Column("offer_id", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("requested_by", sa.Text(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("offer_id", name=op.f("pk_offer_revocations")),
        schema="ledger",
    )


def downgrade() -> None:
    op.drop_table("offer_revocations", schema="ledger")
    op.drop_column("lots", "offer_id", schema="ledger")
