"""auth session keys: keys that expire, minted and ended only by the console's role

Revision ID: auth_0003
Revises: auth_0002
Create Date: 2026-12-01 19:10:00.000000

A person signed in to the console acts with a key of their own that lasts the session
(``expires_at``; every service's key check refuses it after that). The console's role may
not write keys either; it has two functions of its own, granted by
``shared.migrate.grant_privileges`` to it alone:

- ``issue_session_key(...)`` stores a key that expires within 12 hours, never for a
  principal the platform reserves (``service:``/``policy:`` names, ``tenure``, ``ledger``);
- ``end_session_key(key_id)`` revokes such a key, and no other (an expiring one).

So a leaked console credential mints only keys that die within hours, and cannot revoke
the platform's own.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "auth_0003"
down_revision: str | None = "auth_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SIGNATURES = (
    "auth.issue_session_key(uuid, text, text, text, text[], timestamptz)",
    "auth.end_session_key(uuid)",
)


def upgrade() -> None:
    op.add_column(
        "api_keys",
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        schema="auth",
    )
    op.execute(
        """
        CREATE FUNCTION auth.issue_session_key(
            key_id uuid, key_hash text, display_prefix text, principal text, scopes text[],
            expires_at timestamptz
        ) RETURNS SETOF auth.api_keys
        LANGUAGE plpgsql
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp
        AS $$
        BEGIN
            IF expires_at IS NULL OR expires_at <= now()
               OR expires_at > now() + interval '12 hours' THEN
                RAISE EXCEPTION 'a session key expires within 12 hours'
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF principal LIKE 'service:%' OR principal LIKE 'policy:%'
               OR principal IN ('tenure', 'ledger') THEN
                RAISE EXCEPTION 'principal % is reserved for the platform', principal
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN QUERY
                INSERT INTO auth.api_keys
                    (id, key_hash, display_prefix, principal, scopes, expires_at)
                VALUES (key_id, key_hash, display_prefix, principal, scopes, expires_at)
                RETURNING *;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION auth.end_session_key(key_id uuid) RETURNS SETOF auth.api_keys
        LANGUAGE sql
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp
        AS $$
            UPDATE auth.api_keys AS k SET revoked_at = coalesce(k.revoked_at, now())
            WHERE k.id = key_id AND k.expires_at IS NOT NULL
            RETURNING *
        $$
        """
    )
    for signature in _SIGNATURES:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")


def downgrade() -> None:
    for signature in reversed(_SIGNATURES):
        op.execute(f"DROP FUNCTION {signature}")
    op.drop_column("api_keys", "expires_at", schema="auth")
