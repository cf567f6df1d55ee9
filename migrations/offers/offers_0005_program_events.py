"""program events: who changed a program, when and why

Revision ID: offers_0005
Revises: offers_0004
Create Date: 2026-12-01 15:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "offers_0005"
down_revision: str | None = "offers_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "program_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column("principal", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.String(length=20),
            nullable=False,
            comment="The program's status after the event",
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["offers.programs.id"],
            name=op.f("fk_program_events_program_id_programs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_program_events")),
        schema="offers",
    )
    op.create_index(
        "ix_program_events_program",
        "program_events",
        ["program_id", "id"],
        unique=False,
        schema="offers",
    )


def downgrade() -> None:
    op.drop_index("ix_program_events_program", table_name="program_events", schema="offers")
    op.drop_table("program_events", schema="offers")
