"""auth key-store functions: the only changes service roles may make to API keys

Revision ID: auth_0002
Revises: auth_0001
Create Date: 2026-12-01 09:30:00.000000

Service roles only read ``auth.api_keys``: a leaked service database credential can neither
mint, change, revive nor revoke a key. What services do change goes through functions that
run as their owner (the migrating role) with ``search_path`` pinned, so no object a caller
creates is resolved inside them:

- ``stamp_key_use(key_id)`` sets only ``last_used_at``, at most once a minute per key;
- ``create_key(admin_key, ...)`` and ``revoke_key(admin_key, key_id)`` (the admin API) act
  only for the plaintext of a live key with the ``admin`` scope, which no table holds.

Who may EXECUTE them is granted by ``shared.migrate.grant_privileges``.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "auth_0002"
down_revision: str | None = "auth_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SIGNATURES = (
    "auth.stamp_key_use(uuid)",
    "auth.require_admin_key(text)",
    "auth.create_key(text, uuid, text, text, text, text[])",
    "auth.revoke_key(text, uuid)",
)


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION auth.stamp_key_use(key_id uuid) RETURNS void
        LANGUAGE sql
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp
        AS $$
            UPDATE auth.api_keys
            SET last_used_at = now()
            WHERE id = key_id
              AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
        $$
        """
    )
    op.execute(
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
        """
    )
    op.execute(
        """
        CREATE FUNCTION auth.create_key(
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
        """
    )
    op.execute(
        """
        CREATE FUNCTION auth.revoke_key(admin_key text, key_id uuid) RETURNS SETOF auth.api_keys
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
        """
    )
    # Functions are executable by PUBLIC by default: only the roles granted them may call them.
    for signature in _SIGNATURES:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")


def downgrade() -> None:
    for signature in reversed(_SIGNATURES):
        op.execute(f"DROP FUNCTION {signature}")
