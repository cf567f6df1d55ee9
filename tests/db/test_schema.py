"""Schemas, roles and migrations."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import ProgrammingError

from services.metadata import METADATA
from shared import migrate
from shared.auth import ApiKey, create_key, revoke_key
from shared.cli import create_key_at
from shared.db import (
    create_engine,
    role_name,
    service_url,
    session_factory,
    standalone_unit_of_work,
    unit_of_work,
)
from shared.errors import Forbidden
from shared.settings import APP_NAMES


async def test_a_service_role_cannot_read_another_services_schema(database_url: str) -> None:
    engine = create_engine(service_url(database_url, "ingest"))
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM ingest.accounts")) >= 0
            with pytest.raises(ProgrammingError, match="permission denied"):
                await conn.execute(text("SELECT * FROM ledger.outbox"))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", APP_NAMES)
@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO auth.api_keys (id, key_hash, display_prefix, principal, scopes)"
        " VALUES (gen_random_uuid(), repeat('0', 64), 'tnr_x', 'mallory', ARRAY['admin'])",
        "UPDATE auth.api_keys SET scopes = ARRAY['admin']",
        "UPDATE auth.api_keys SET revoked_at = NULL",
        "UPDATE auth.api_keys SET last_used_at = now()",
        "DELETE FROM auth.api_keys",
    ],
)
async def test_a_service_role_cannot_mint_change_or_delete_api_keys(
    database_url: str, service: str, statement: str
) -> None:
    engine = create_engine(service_url(database_url, service))
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM auth.api_keys")) >= 0
            with pytest.raises(ProgrammingError, match="permission denied"):
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def test_a_service_role_stamps_last_use_through_the_function_and_nothing_else(
    database_url: str,
) -> None:
    live, _raw = await create_key_at(database_url, "stamp-live", ["ingest:read"])
    revoked, _raw = await create_key_at(database_url, "stamp-revoked", ["admin"])
    admin = create_engine(database_url)
    engine = create_engine(service_url(database_url, "scoring"))
    stamp = text("SELECT auth.stamp_key_use(:id)")
    read = text("SELECT last_used_at, revoked_at, scopes FROM auth.api_keys WHERE id = :id")
    try:
        async with admin.begin() as conn:
            await conn.execute(
                text("UPDATE auth.api_keys SET revoked_at = now() WHERE id = :id"),
                {"id": revoked.id},
            )
        async with engine.begin() as conn:
            await conn.execute(stamp, {"id": live.id})
            await conn.execute(stamp, {"id": revoked.id})
        async with engine.connect() as conn:
            first_use, not_revoked, scopes = (await conn.execute(read, {"id": live.id})).one()
            stamped, still_revoked, _s = (await conn.execute(read, {"id": revoked.id})).one()
        async with engine.begin() as conn:  # within the minute: the first stamp stands
            await conn.execute(stamp, {"id": live.id})
        async with engine.connect() as conn:
            again = (await conn.execute(read, {"id": live.id})).one()[0]
        async with admin.connect() as conn:
            definer, config = (
                await conn.execute(
                    text(
                        "SELECT prosecdef, proconfig FROM pg_proc"
                        " WHERE oid = 'auth.stamp_key_use(uuid)'::regprocedure"
                    )
                )
            ).one()
            public_may_run = await conn.scalar(
                text(
                    "SELECT has_function_privilege('public', 'auth.stamp_key_use(uuid)', 'EXECUTE')"
                )
            )
    finally:
        await engine.dispose()
        await admin.dispose()
    assert first_use is not None
    assert not_revoked is None
    assert scopes == ["ingest:read"]
    assert stamped is not None
    assert still_revoked is not None  # stamping never revives a key
    assert again == first_use
    assert definer is True
    assert config == ["search_path=pg_catalog, pg_temp"]
    assert public_may_run is False


async def test_a_service_role_creates_and_revokes_keys_only_for_a_live_admin_key(
    database_url: str,
) -> None:
    _k, admin_key = await create_key_at(database_url, "key-admin", ["admin"])
    _k, reader_key = await create_key_at(database_url, "key-reader", ["ingest:read"])
    revoked, revoked_key = await create_key_at(database_url, "key-gone", ["admin"])
    async with standalone_unit_of_work(database_url) as session:
        await revoke_key(session, revoked.id)
    engine = create_engine(service_url(database_url, "ingest"))
    factory = session_factory(engine)
    try:
        for refused in (reader_key, revoked_key, "tnr_made-up", ""):
            async with factory() as session:
                with pytest.raises(Forbidden):
                    await create_key(session, "mallory", ["admin"], admin_key=refused)
            async with factory() as session:
                with pytest.raises(Forbidden):
                    await revoke_key(session, revoked.id, admin_key=refused)
        async with unit_of_work(factory) as session:
            made, raw = await create_key(session, "crm", ["ingest:read"], admin_key=admin_key)
        async with unit_of_work(factory) as session:
            gone = await revoke_key(session, made.id, admin_key=admin_key)
            missing = await revoke_key(session, uuid.uuid4(), admin_key=admin_key)
        async with factory() as session:
            principals = set(
                (
                    await session.scalars(
                        select(ApiKey.principal).where(ApiKey.principal.in_(["crm", "mallory"]))
                    )
                ).all()
            )
    finally:
        await engine.dispose()
    assert made.principal == "crm"
    assert made.scopes == ["ingest:read"]
    assert raw.startswith("tnr_")
    assert gone is not None
    assert gone.revoked_at is not None
    assert missing is None
    assert "mallory" not in principals


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger.lots SET amount = amount + 1",
        "UPDATE ledger.lots SET expires_at = expires_at + interval '1 year'",
        "UPDATE ledger.lots SET program_id = 'other'",
        "UPDATE ledger.lots SET customer_account_id = 'other'",
        "DELETE FROM ledger.lots",
        "UPDATE ledger.ledger_accounts SET kind = 'customer'",
        "UPDATE ledger.ledger_accounts SET customer_account_id = 'other'",
        "DELETE FROM ledger.ledger_accounts",
    ],
)
async def test_the_ledger_role_cannot_change_what_a_lot_or_account_is(
    database_url: str, statement: str
) -> None:
    engine = create_engine(service_url(database_url, "ledger"))
    try:
        async with engine.connect() as conn:
            with pytest.raises(ProgrammingError, match="permission denied"):
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def test_the_ledger_role_may_update_the_derived_columns_its_writes_set(
    database_url: str,
) -> None:
    engine = create_engine(service_url(database_url, "ledger"))
    try:
        async with engine.connect() as conn:
            await conn.execute(text("UPDATE ledger.lots SET remaining = remaining"))
            await conn.execute(
                text(
                    "UPDATE ledger.ledger_accounts"
                    " SET balance = balance, chain_seq = chain_seq, chain_hash = chain_hash"
                )
            )
            await conn.execute(text("SELECT id FROM ledger.ledger_accounts FOR UPDATE"))
            await conn.rollback()
    finally:
        await engine.dispose()


def password_matches(stored: str | None, role: str, password: str) -> bool:
    """Whether ``password`` is the one PostgreSQL stored (SCRAM-SHA-256 or md5) for ``role``."""
    if stored is None:
        return False
    if stored.startswith("md5"):
        return stored == "md5" + hashlib.md5((password + role).encode()).hexdigest()
    iterations_salt, keys = stored.removeprefix("SCRAM-SHA-256$").split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key = base64.b64decode(keys.split(":")[0])
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest() == stored_key


async def test_each_role_gets_its_own_password_and_an_empty_one_changes_nothing(
    fresh_database: str,
) -> None:
    passwords = {s: f"secret-{s}-{n}" for n, s in enumerate(APP_NAMES)}
    engine = create_engine(fresh_database)
    read = text("SELECT rolname, rolpassword FROM pg_authid WHERE rolname LIKE 'tenure\\_%'")
    try:
        await migrate.upgrade(fresh_database, role_passwords=passwords)
        async with engine.connect() as conn:
            stored = {r[0]: r[1] for r in await conn.execute(read)}
        await migrate.upgrade(fresh_database, role_passwords={"ingest": ""})
        async with engine.connect() as conn:
            kept = {r[0]: r[1] for r in await conn.execute(read)}
    finally:
        # Roles are the server's: put back the password-less roles the other tests use.
        async with engine.begin() as conn:
            for service in APP_NAMES:
                await conn.execute(text(f"ALTER ROLE {role_name(service)} PASSWORD NULL"))
        await engine.dispose()
    for service in APP_NAMES:
        role = role_name(service)
        assert password_matches(stored[role], role, passwords[service])
        others = [p for s, p in passwords.items() if s != service]
        assert not any(password_matches(stored[role], role, p) for p in others)
    assert kept == stored


async def test_downgrade_to_base_and_upgrade_again(fresh_database: str) -> None:
    await migrate.downgrade(fresh_database)
    engine = create_engine(fresh_database)
    try:
        async with engine.connect() as conn:
            for component in migrate.COMPONENTS:
                assert await migrate.current_revision(conn, component) is None
                tables = await conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_tables WHERE schemaname = :s"
                        " AND tablename <> 'alembic_version'"
                    ),
                    {"s": component},
                )
                assert tables == 0
        await migrate.upgrade(fresh_database)
        async with engine.connect() as conn:
            for component in migrate.COMPONENTS:
                current = await migrate.current_revision(conn, component)
                assert current == migrate.head_revision(component)
    finally:
        await engine.dispose()


def _diff(sync_conn: Connection, component: str) -> list[object]:
    context = MigrationContext.configure(
        sync_conn,
        opts={
            "include_schemas": True,
            "include_name": lambda name, type_, _p: type_ != "schema" or name == component,
            "compare_type": True,
            "version_table_schema": component,
        },
    )
    return list(compare_metadata(context, METADATA[component]))


@pytest.mark.parametrize("component", migrate.COMPONENTS)
async def test_models_and_migrations_agree(database_url: str, component: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff, component) == []
    finally:
        await engine.dispose()
