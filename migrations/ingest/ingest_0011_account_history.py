"""account history: every change of an account's tracked facts, backfilled from today's

Revision ID: ingest_0011
Revises: ingest_0010
Create Date: 2026-12-01 12:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "ingest_0011"
down_revision: str | None = "ingest_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("account_id", sa.String(length=200), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("plan", sa.String(length=200), nullable=True),
        sa.Column("billing_period", sa.String(length=20), nullable=False),
        sa.Column("mrr_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("seats_purchased", sa.Integer(), nullable=False),
        sa.Column("renewal_date", sa.Date(), nullable=True),
        sa.Column("cancel_intent", sa.Boolean(), nullable=False),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "billing_period IN ('monthly', 'annual', 'multi_year')",
            name=op.f("ck_account_history_period"),
        ),
        sa.CheckConstraint(
            "status IN ('trial', 'active', 'paused', 'cancelled')",
            name=op.f("ck_account_history_status"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ingest.accounts.external_id"],
            name=op.f("fk_account_history_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_history")),
        schema="ingest",
    )
    op.create_index(
        "ix_account_history_account",
        "account_history",
        ["account_id", "effective_at", "id"],
        unique=False,
        schema="ingest",
    )
    op.create_index(
        "ix_account_history_renewal",
        "account_history",
        ["renewal_date", "account_id"],
        unique=False,
        schema="ingest",
    )
    # One row per existing account: its facts as they stand, in force since its last update
    # (what came before is not known).
    op.execute(
        """
        INSERT INTO ingest.account_history (
            account_id, effective_at, source, status, plan, billing_period, mrr_minor,
            currency, seats_purchased, renewal_date, cancel_intent, changes
        )
        SELECT external_id, updated_at, 'backfill', status, plan, billing_period, mrr_minor,
            currency, seats_purchased, renewal_date, cancel_intent, jsonb_build_object(
            'status', jsonb_build_object('old', NULL, 'new', to_jsonb(status)),
            'plan', jsonb_build_object('old', NULL, 'new', to_jsonb(plan)),
            'billing_period', jsonb_build_object('old', NULL, 'new', to_jsonb(billing_period)),
            'mrr_minor', jsonb_build_object('old', NULL, 'new', to_jsonb(mrr_minor)),
            'currency', jsonb_build_object('old', NULL, 'new', to_jsonb(currency)),
            'seats_purchased', jsonb_build_object('old', NULL, 'new', to_jsonb(seats_purchased)),
            'renewal_date', jsonb_build_object('old', NULL, 'new', to_jsonb(renewal_date)),
            'cancel_intent', jsonb_build_object('old', NULL, 'new', to_jsonb(cancel_intent))
            )
        FROM ingest.accounts
        ORDER BY external_id
        """
    )


def downgrade() -> None:
    op.drop_index("ix_account_history_renewal", table_name="account_history", schema="ingest")
    op.drop_index("ix_account_history_account", table_name="account_history", schema="ingest")
    op.drop_table("account_history", schema="ingest")
