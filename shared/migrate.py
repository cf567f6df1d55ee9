"""Schema migrations: one Postgres schema, one Alembic version table and one role per service.

Components migrate in order: ``auth`` (the shared API-key store) first, then each service.
Migrations run as the administrative user of ``DATABASE_URL``; services connect as their
own roles, whose privileges are granted here and reach only their own schema (plus reading
API keys and stamping their last use), each with its own password.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import create_engine, role_name
from shared.settings import APP_NAMES, CONSOLE

COMPONENTS = ("auth", *APP_NAMES)
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
VERSION_TABLE = "alembic_version"
# Advisory lock held while migrating, so concurrent migrators queue instead of colliding.
MIGRATION_LOCK_ID = 7_466_657_475


@dataclass(frozen=True)
class Mutable:
    """What a role may change in one table beyond SELECT and INSERT."""

    # The columns it may UPDATE; None: every column.
    update: tuple[str, ...] | None = None
    delete: bool = True


# Beyond SELECT and INSERT on every table of its own schema, what each role may change
# (None: every table, fully). The ledger's transactions, postings and lot movements are
# append-only; of its derived state only what its writes set is updatable: a lot's remainder
# (never its amount, expiry or program) and an account's balance and chain head (never its
# kind, unit or owner). The audit recomputes all of them.
MUTABLE_TABLES: dict[str, dict[str, Mutable] | None] = {
    "ingest": None,
    "scoring": None,
    "offers": None,
    "console": None,
    "ledger": {
        "ledger_accounts": Mutable(update=("balance", "chain_seq", "chain_hash"), delete=False),
        "lots": Mutable(update=("remaining",), delete=False),
        "idempotency_keys": Mutable(),
        "outbox": Mutable(),
        "inbox": Mutable(),
    },
}
# The only changes roles may make to the shared key store: every app's (migration auth_0002:
# stamping a key's use; the admin API's two act only for a live admin key) ...
KEY_STORE_FUNCTIONS = (
    "auth.stamp_key_use(uuid)",
    "auth.create_key(text, uuid, text, text, text, text[])",
    "auth.revoke_key(text, uuid)",
)
# ... and the console's alone: its people's session keys (migration auth_0003).
SESSION_KEY_FUNCTIONS = (
    "auth.issue_session_key(uuid, text, text, text, text[], timestamptz)",
    "auth.end_session_key(uuid)",
)


def key_store_functions(app: str) -> tuple[str, ...]:
    """The key-store functions ``app``'s role may call: the console stamps and ends its
    people's session keys but serves no admin API; the services the reverse."""
    stamp = KEY_STORE_FUNCTIONS[0]
    return (stamp, *SESSION_KEY_FUNCTIONS) if app == CONSOLE else KEY_STORE_FUNCTIONS


def alembic_config(component: str, connection: Connection | None = None) -> Config:
    """The Alembic configuration of one component."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(MIGRATIONS_DIR / component))
    cfg.attributes["component"] = component
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision(component: str) -> str | None:
    """The newest migration of a component, read from the scripts (no database)."""
    return ScriptDirectory.from_config(alembic_config(component)).get_current_head()


def _literal(value: str) -> str:
    """A SQL string literal (role DDL takes no bind parameters)."""
    return "'" + value.replace("'", "''") + "'"


async def ensure_roles(conn: AsyncConnection, passwords: Mapping[str, str] | None = None) -> None:
    """Create each app's login role if missing (a concurrent creator is tolerated), and
    set each role's own password from ``passwords`` (by app); a role without one keeps
    its password (none, under trust authentication)."""
    passwords = passwords or {}
    for service in APP_NAMES:
        role = role_name(service)
        await conn.execute(
            text(
                f"""
                DO $$ BEGIN
                  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                    CREATE ROLE {role} LOGIN;
                  END IF;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                END $$;
                """
            )
        )
        password = passwords.get(service, "")
        if password:
            await conn.execute(text(f"ALTER ROLE {role} PASSWORD {_literal(password)}"))


async def grant_privileges(conn: AsyncConnection, component: str) -> None:
    """Grant the roles exactly what they may do on a component's schema."""
    if component == "auth":
        for service in APP_NAMES:
            role = role_name(service)
            await conn.execute(text(f"GRANT USAGE ON SCHEMA auth TO {role}"))
            # Start from nothing: earlier versions granted INSERT and UPDATE here.
            await conn.execute(text(f"REVOKE ALL ON ALL TABLES IN SCHEMA auth FROM {role}"))
            # Keys to check them, the version so that /readyz can tell the store is current.
            await conn.execute(
                text(f"GRANT SELECT ON auth.api_keys, auth.{VERSION_TABLE} TO {role}")
            )
            # A function is absent below the revision that makes it.
            for function in key_store_functions(service):
                if await conn.scalar(text("SELECT to_regprocedure(:f)"), {"f": function}):
                    await conn.execute(text(f"GRANT EXECUTE ON FUNCTION {function} TO {role}"))
        return
    role = role_name(component)
    schema = component
    await conn.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {role}"))
    # Start from nothing so that a privilege taken away by a newer version is really gone
    # (revoking a table's privileges revokes its column privileges too).
    await conn.execute(text(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}"))
    await conn.execute(text(f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {schema} TO {role}"))
    mutable = MUTABLE_TABLES[component]
    if mutable is None:
        await conn.execute(text(f"GRANT UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"))
    else:
        present = set(
            await conn.scalars(
                text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema}
            )
        )
        for table, allowed in mutable.items():
            if table not in present:
                continue
            columns = "" if allowed.update is None else f" ({', '.join(allowed.update)})"
            await conn.execute(text(f"GRANT UPDATE{columns} ON {schema}.{table} TO {role}"))
            if allowed.delete:
                await conn.execute(text(f"GRANT DELETE ON {schema}.{table} TO {role}"))
    await conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"))


def _run_alembic(connection: Connection, component: str, action: str, revision: str) -> None:
    cfg = alembic_config(component, connection)
    if action == "upgrade":
        command.upgrade(cfg, revision)
    else:
        command.downgrade(cfg, revision)


async def upgrade(
    admin_url: str, *, role_passwords: Mapping[str, str] | None = None, revision: str = "head"
) -> None:
    """Create roles (with their passwords, by service) and schemas, migrate every component
    to ``revision``, and grant."""
    engine = create_engine(admin_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            # One migrator at a time per database; a second waits rather than colliding.
            await conn.execute(text(f"SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))
            try:
                await ensure_roles(conn, role_passwords)
                for component in COMPONENTS:
                    await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {component}"))
                    await conn.run_sync(_run_alembic, component, "upgrade", revision)
                    await grant_privileges(conn, component)
                    await conn.commit()
            finally:
                await conn.execute(text(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"))
                await conn.commit()
    finally:
        await engine.dispose()


async def downgrade(admin_url: str, *, revision: str = "base") -> None:
    """Downgrade every component, services first, then ``auth``."""
    engine = create_engine(admin_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            for component in reversed(COMPONENTS):
                await conn.run_sync(_run_alembic, component, "downgrade", revision)
                await conn.commit()
    finally:
        await engine.dispose()


async def current_revision(conn: AsyncConnection, component: str) -> Any:
    """The revision a component's schema is at, or None if it was never migrated."""
    exists = await conn.scalar(
        text("SELECT to_regclass(:name)"), {"name": f"{component}.{VERSION_TABLE}"}
    )
    if exists is None:
        return None
    # component is one of COMPONENTS, a fixed name, never caller input.
    query = f"SELECT version_num FROM {component}.{VERSION_TABLE}"  # noqa: S608
    return await conn.scalar(text(query))
