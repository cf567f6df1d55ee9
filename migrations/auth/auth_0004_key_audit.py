"""auth key audit: who made and who ended each key, recorded by the key store itself

Revision ID: auth_0004
Revises: auth_0003
Create Date: 2026-12-01 22:50:00.000000

The audit log lists every key made and ended, by whom. The key-store functions record it
from what they can vouch for, never from an argument a caller could forge:

- ``create_key``/``revoke_key`` (the admin API): the principal of the live admin key whose
  plaintext was given, found by ``auth.admin_principal`` (which replaces
  ``require_admin_key`` and, unlike it, refuses an expired session key too);
- ``issue_session_key``/``end_session_key`` (the console's sign-in and sign-out): the
  person the session is for;
- the operator's own connection (the ``tenure`` command line, the platform's start-up)
  writes the table directly and records ``tenure``.

Keys made before this migration keep null: their makers were not recorded. The functions
keep their signatures, so their grants stay.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "auth_0004"
down_revision: str | None = "auth_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FUNCTIONS = (
    """
    CREATE FUNCTION auth.admin_principal(admin_key text) RETURNS text
    LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
        found text;
    BEGIN
        SELECT k.principal INTO found FROM auth.api_keys AS k
        WHERE k.key_hash = encode(sha256(convert_to(admin_key, 'UTF8')), 'hex')
          AND k.revoked_at IS NULL AND 'admin' = ANY (k.scopes)
          AND (k.expires_at IS NULL OR k.expires_at > now());
        IF found IS NULL THEN
            RAISE EXCEPTION 'a live admin API key is required'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN found;
    END
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION auth.create_key(
        admin_key text, key_id uuid, key_hash text, display_prefix text, principal text,
        scopes text[]
    ) RETURNS SETOF auth.api_keys
    LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
        by_admin text := auth.admin_principal(admin_key);
    BEGIN
        RETURN QUERY
            INSERT INTO auth.api_keys
                (id, key_hash, display_prefix, principal, scopes, created_by)
            VALUES (key_id, key_hash, display_prefix, principal, scopes, by_admin)
            RETURNING *;
    END
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION auth.revoke_key(admin_key text, key_id uuid)
    RETURNS SETOF auth.api_keys
    LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
        by_admin text := auth.admin_principal(admin_key);
    BEGIN
        -- Revoking twice keeps the first time, and who did it.
        RETURN QUERY
            UPDATE auth.api_keys AS k
            SET revoked_at = coalesce(k.revoked_at, now()),
                revoked_by = CASE WHEN k.revoked_at IS NULL THEN by_admin ELSE k.revoked_by END
            WHERE k.id = key_id
            RETURNING *;
    END
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION auth.issue_session_key(
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
                (id, key_hash, display_prefix, principal, scopes, expires_at, created_by)
            VALUES (key_id, key_hash, display_prefix, principal, scopes, expires_at, principal)
            RETURNING *;
    END
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION auth.end_session_key(key_id uuid) RETURNS SETOF auth.api_keys
    LANGUAGE sql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
        UPDATE auth.api_keys AS k
        SET revoked_at = coalesce(k.revoked_at, now()),
            revoked_by = coalesce(k.revoked_by, k.principal)
        WHERE k.id = key_id AND k.expires_at IS NOT NULL
        RETURNING *
    $$
    """,
)
# What downgrade restores: auth_0002's and auth_0003's bodies.
_EARLIER = (
    """
    CREATE FUNCTION auth.require_admin_key(admin_key text) RETURNS void
    LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
    BEGIN
        IF NOT EXISTS (
            SELECT FROM auth.api_keys
            WHERE key_hash = encode(sha256(convert_to(admin_key, 'UTF8')), 'hex')
              AND revoked_at IS NULL
              AND 'admin' = ANY (scopes)
        ) THEN
            RAISE EXCEPTION 'a live admin API key is required'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION auth.create_key(
        admin_key text, key_id uuid, key_hash text, display_prefix text, principal text,
        scopes text[]
    ) RETURNS SETOF auth.api_keys
    LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
    BEGIN
        PERFORM auth.require_admin_key(admin_key);
        RETURN QUERY
            INSERT INTO auth.api_keys (id, key_hash, display_prefix, principal, scopes)
            VALUES (key_id, key_hash, display_prefix, principal, scopes)
            RETURNING *;
    END
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION auth.revoke_key(admin_key text, key_id uuid)
    RETURNS SETOF auth.api_keys
    LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
    BEGIN
        PERFORM auth.require_admin_key(admin_key);
        RETURN QUERY
            UPDATE auth.api_keys AS k SET revoked_at = coalesce(k.revoked_at, now())
            WHERE k.id = key_id
            RETURNING *;
    END
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION auth.issue_session_key(
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
    """,
    """
    CREATE OR REPLACE FUNCTION auth.end_session_key(key_id uuid) RETURNS SETOF auth.api_keys
    LANGUAGE sql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
        UPDATE auth.api_keys AS k SET revoked_at = coalesce(k.revoked_at, now())
        WHERE k.id = key_id AND k.expires_at IS NOT NULL
        RETURNING *
    $$
    """,
)


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("created_by", sa.String(200)), schema="auth")
    op.add_column("api_keys", sa.Column("revoked_by", sa.String(200)), schema="auth")
    # The audit log reads keys newest first by when they were made, and when they ended.
    op.create_index("ix_api_keys_created_at_id", "api_keys", ["created_at", "id"], schema="auth")
    op.create_index(
        "ix_api_keys_revoked_at_id",
        "api_keys",
        ["revoked_at", "id"],
        schema="auth",
        postgresql_where=sa.text("revoked_at IS NOT NULL"),
    )
    for body in _FUNCTIONS:
        op.execute(body)
    op.execute("DROP FUNCTION auth.require_admin_key(text)")
    # Called only from inside the key-store functions, which run as its owner.
    op.execute("REVOKE ALL ON FUNCTION auth.admin_principal(text) FROM PUBLIC")


def downgrade() -> None:
    for body in _EARLIER:
        op.execute(body)
    op.execute("REVOKE ALL ON FUNCTION auth.require_admin_key(text) FROM PUBLIC")
    op.execute("DROP FUNCTION auth.admin_principal(text)")
    op.drop_index("ix_api_keys_revoked_at_id", "api_keys", schema="auth")
    op.drop_index("ix_api_keys_created_at_id", "api_keys", schema="auth")
    op.drop_column("api_keys", "revoked_by", schema="auth")
    op.drop_column("api_keys", "created_by", schema="auth")
