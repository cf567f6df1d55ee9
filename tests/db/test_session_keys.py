"""Console sessions' keys: minted and ended only by the console's role, dead at expiry."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.auth import (
    KeyVerifier,
    create_key,
    end_session_key,
    issue_session_key,
    revoke_key,
)
from shared.cli import create_key_at
from shared.db import create_engine, service_url, session_factory, unit_of_work
from shared.errors import Forbidden, Unauthorized


@pytest.fixture
async def console_sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(service_url(database_url, "console"))
    yield session_factory(engine)
    await engine.dispose()


def soon(hours: float = 1) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


async def test_a_session_key_works_until_signed_out(
    console_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(console_sessions) as session:
        key, raw = await issue_session_key(session, "ann", ["offers:read"], soon())
    principal = await KeyVerifier(console_sessions, 0).verify(raw)
    assert (principal.name, principal.scopes) == ("ann", frozenset({"offers:read"}))
    async with unit_of_work(console_sessions) as session:
        await end_session_key(session, key.id)
    with pytest.raises(Unauthorized, match="revoked"):
        await KeyVerifier(console_sessions, 0).verify(raw)


async def test_an_expired_key_is_refused_even_from_the_cache(
    database_url: str, console_sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with unit_of_work(console_sessions) as session:
        key, raw = await issue_session_key(session, "ben", ["offers:read"], soon())
    verifier = KeyVerifier(console_sessions, 3600)
    await verifier.verify(raw)  # cached for an hour ...
    admin = create_engine(database_url)
    try:
        async with admin.begin() as conn:  # ... but the key ended a second ago
            await conn.execute(
                text("UPDATE auth.api_keys SET expires_at = now() - interval '1 s' WHERE id = :i"),
                {"i": key.id},
            )
    finally:
        await admin.dispose()
    with pytest.raises(Unauthorized, match="expired"):
        await KeyVerifier(console_sessions, 3600).verify(raw)


@pytest.mark.parametrize(
    ("principal", "expires_in", "why"),
    [
        ("ann", timedelta(hours=13), "12 hours"),
        ("ann", timedelta(seconds=-1), "12 hours"),
        ("service:offers", timedelta(hours=1), "reserved"),
        ("policy:auto", timedelta(hours=1), "reserved"),
        ("ledger", timedelta(hours=1), "reserved"),
    ],
)
async def test_the_key_store_refuses_long_lived_or_reserved_session_keys(
    console_sessions: async_sessionmaker[AsyncSession],
    principal: str,
    expires_in: timedelta,
    why: str,
) -> None:
    async with console_sessions() as session:
        with pytest.raises(Forbidden, match=why):
            await issue_session_key(session, principal, ["admin"], datetime.now(UTC) + expires_in)


async def test_ending_a_session_never_touches_a_key_that_does_not_expire(
    database_url: str, console_sessions: async_sessionmaker[AsyncSession]
) -> None:
    lasting, raw = await create_key_at(database_url, "crm", ["ingest:read"])
    async with unit_of_work(console_sessions) as session:
        await end_session_key(session, lasting.id)
    assert (await KeyVerifier(console_sessions, 0).verify(raw)).name == "crm"


async def test_only_the_console_role_mints_session_keys_and_it_serves_no_admin_api(
    database_url: str, console_sessions: async_sessionmaker[AsyncSession]
) -> None:
    _k, admin_key = await create_key_at(database_url, "an-admin", ["admin"])
    engine = create_engine(service_url(database_url, "offers"))
    try:
        async with session_factory(engine)() as session:
            with pytest.raises(Forbidden, match="permission denied"):
                await issue_session_key(session, "ann", ["admin"], soon())
    finally:
        await engine.dispose()
    async with console_sessions() as session:
        with pytest.raises(Forbidden, match="permission denied"):
            await create_key(session, "mallory", ["admin"], admin_key=admin_key)


async def test_the_key_store_records_who_made_and_ended_each_key(
    database_url: str, console_sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with unit_of_work(console_sessions) as session:
        signed, _raw = await issue_session_key(session, "cat", ["offers:read"], soon())
    async with unit_of_work(console_sessions) as session:
        await end_session_key(session, signed.id)
    # The admin API's path records the admin key's principal, not anything the caller says.
    _a, admin_key = await create_key_at(database_url, "keeper", ["admin"])
    engine = create_engine(service_url(database_url, "offers"))
    try:
        async with unit_of_work(session_factory(engine)) as session:
            made, _raw = await create_key(session, "crm", ["ingest:read"], admin_key=admin_key)
            ended = await revoke_key(session, made.id, admin_key=admin_key)
    finally:
        await engine.dispose()
    by_operator, _raw = await create_key_at(database_url, "etl", ["ingest:write"])
    recorded = await who(database_url, signed.id, made.id, by_operator.id)
    assert recorded == [("cat", "cat"), ("keeper", "keeper"), ("tenure", None)]
    assert ended is not None
    assert ended.revoked_by == "keeper"


async def test_an_expired_admin_session_key_vouches_for_nothing(
    database_url: str, console_sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with unit_of_work(console_sessions) as session:
        key, raw = await issue_session_key(session, "dee", ["admin"], soon())
    admin = create_engine(database_url)
    try:
        async with admin.begin() as conn:
            await conn.execute(
                text("UPDATE auth.api_keys SET expires_at = now() - interval '1 s' WHERE id = :i"),
                {"i": key.id},
            )
    finally:
        await admin.dispose()
    engine = create_engine(service_url(database_url, "offers"))
    try:
        async with session_factory(engine)() as session:
            with pytest.raises(Forbidden, match="live admin API key"):
                await create_key(session, "mallory", ["admin"], admin_key=raw)
    finally:
        await engine.dispose()


async def who(database_url: str, *key_ids: uuid.UUID) -> list[tuple[str | None, str | None]]:
    """(created_by, revoked_by) of each key, in the order given."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT id, created_by, revoked_by FROM auth.api_keys WHERE id = ANY(:ids)"),
                {"ids": list(key_ids)},
            )
            found = {r.id: (r.created_by, r.revoked_by) for r in rows}
    finally:
        await engine.dispose()
    return [found[k] for k in key_ids]
