"""Database access: per-service role URLs, engines, and one unit of work per request."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from sqlalchemy import MetaData, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.json_body import orjson_reads_exactly

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def schema_metadata(schema: str) -> MetaData:
    """Metadata for one service's schema, with stable constraint names."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def role_name(service: str) -> str:
    """The database role a service connects as."""
    return f"tenure_{service}"


def asyncpg_url(url: str | URL) -> URL:
    """The same server and database, spoken to through asyncpg."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg")


def service_url(admin_url: str, service: str, password: str = "") -> URL:
    """The admin URL with its user swapped for the service's own role."""
    return asyncpg_url(admin_url).set(username=role_name(service), password=password or None)


def driver_dsn(url: str | URL) -> str:
    """The same URL as a plain asyncpg DSN, for connections a service keeps outside its pool."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def json_loads(document: str) -> Any:
    """A JSON column's value, read by orjson (several times the standard library's speed:
    lists of snapshots and offers decode one document per row) when it reads it exactly,
    else by the standard library."""
    return orjson.loads(document) if orjson_reads_exactly(document) else json.loads(document)


def create_engine(url: str | URL, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    """An async engine on asyncpg with a health-checked pool."""
    return create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        # Parameter values (ids, hashes, payloads) never reach logs or error messages.
        hide_parameters=True,
        json_deserializer=json_loads,
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under ``session``'s transaction, for COPY and hot statements.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, with its first statement; an empty one
    is sent first so that what runs on the raw connection is inside the transaction (and
    commits or rolls back with the session) rather than in autocommit.
    """
    connection = await session.connection()
    await connection.exec_driver_sql(";")
    raw = await connection.get_raw_connection()
    return raw.driver_connection


@asynccontextmanager
async def standalone_unit_of_work(url: str | URL) -> AsyncIterator[AsyncSession]:
    """A unit of work on a short-lived engine, for commands run outside a service process."""
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            yield session
    finally:
        await engine.dispose()


@asynccontextmanager
async def unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: commit when the block succeeds, roll back when it raises."""
    async with factory() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


async def read_only_snapshot(session: AsyncSession) -> None:
    """Make the session's transaction read-only, on one snapshot of the database for all its
    statements (repeatable read): whatever it reads agrees with itself, and PostgreSQL refuses
    any write in it. It must be the transaction's first statement."""
    await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
