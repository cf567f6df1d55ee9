"""Schemas, roles and migrations."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.exc import ProgrammingError

from services.metadata import METADATA
from shared import migrate
from shared.db import create_engine, service_url


async def test_a_service_role_cannot_read_another_services_schema(database_url: str) -> None:
    engine = create_engine(service_url(database_url, "ingest"))
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM ingest.accounts")) >= 0
            with pytest.raises(ProgrammingError, match="permission denied"):
                await conn.execute(text("SELECT * FROM ledger.outbox"))
    finally:
        await engine.dispose()


async def test_a_service_role_cannot_change_api_key_secrets_schema(database_url: str) -> None:
    engine = create_engine(service_url(database_url, "scoring"))
    try:
        async with engine.connect() as conn:
            with pytest.raises(ProgrammingError, match="permission denied"):
                await conn.execute(text("DELETE FROM auth.api_keys"))
    finally:
        await engine.dispose()


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
