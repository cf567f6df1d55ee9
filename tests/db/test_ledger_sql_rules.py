"""Rules the ledger's SQL repeats so the database can do the work, each checked against its
one written form (the pure rule) over generated lots on a real database:

- which lots a redemption reaches (``domain.lots.allocate``: FIFO by expiry, then grant time,
  then id), picked by ``repository.groups.load_lots`` so a group loads no more lots than its
  writes can touch;
- which lots an expiry sweeps (``Book.due_lots``), loaded by ``load_lots`` too;
- a lot's status (``domain.lots.lot_status``), the filter of ``repository.lots.list_lots``;
- a lot's age bucket (``domain.liability.age_bucket``), the grouping of
  ``repository.reports.liability``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.domain.book import Book
from services.ledger.domain.liability import age_bucket
from services.ledger.domain.lots import Lot, allocate, lot_status
from services.ledger.repository import groups as repo
from services.ledger.repository import lots as lots_repo
from services.ledger.repository import reports as reports_repo
from shared.db import create_engine, driver_connection, driver_dsn, service_url, session_factory

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Drawn:
    """A lot as generated: how long after NOW it expires (none or less: expired), how long
    before NOW it was granted, its amount and what is left of it."""

    expires_in: timedelta
    granted_ago: timedelta
    amount: int
    remaining: int


# Few distinct days, so that expiries and grant times tie often and the id decides.
drawn_lots = st.builds(
    lambda expires_in, granted_ago, amount, left: Drawn(
        timedelta(days=expires_in), timedelta(days=granted_ago), amount, min(left, amount)
    ),
    st.integers(-1, 3),
    st.integers(0, 2),
    st.integers(1, 50),
    st.sampled_from([0, 1, 7, 20, 50]),
)


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(driver_dsn(service_url(database_url, "ledger")))
    try:
        yield connection
    finally:
        await connection.close()


async def store(
    conn: asyncpg.Connection, account: str, drawn: list[Drawn], program: str | None = None
) -> list[Lot]:
    """Insert the lots on ``account``, each with the grant that created it; returns them as
    allocation sees them."""
    await conn.execute(
        "INSERT INTO ledger.ledger_accounts (id, kind, unit, customer_account_id, balance)"
        " VALUES ($1, 'customer', 'USD', $1, 0)",
        account,
    )
    lots = []
    for seq, d in enumerate(drawn, start=1):
        grant_id, lot_id = uuid.uuid4(), uuid.uuid4()
        granted_at = NOW - d.granted_ago
        expires_at = NOW + d.expires_in
        await conn.execute(
            "INSERT INTO ledger.transactions (id, kind, effective_at, chain_key, chain_seq,"
            " prev_hash, hash) VALUES ($1, 'grant', $2, $3, $4, '', '')",
            grant_id,
            granted_at,
            account,
            seq,
        )
        await conn.execute(
            "INSERT INTO ledger.lots (id, grant_id, ledger_account_id, customer_account_id,"
            " unit, amount, remaining, expires_at, granted_at, program_id)"
            " VALUES ($1, $2, $3, $3, 'USD', $4, $5, $6, $7, $8)",
            lot_id,
            grant_id,
            account,
            d.amount,
            d.remaining,
            expires_at,
            granted_at,
            program,
        )
        lots.append(Lot(lot_id, d.remaining, expires_at, granted_at))
    return lots


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    first=st.lists(drawn_lots, min_size=1, max_size=8),
    second=st.lists(drawn_lots, max_size=4),
    wanted=st.tuples(st.integers(0, 200), st.integers(0, 200)),
)
async def test_the_sql_loads_exactly_the_lots_the_fifo_rule_takes_from(
    conn: asyncpg.Connection,
    first: list[Drawn],
    second: list[Drawn],
    wanted: tuple[int, int],
) -> None:
    tx = conn.transaction()
    await tx.start()
    try:
        # Two accounts in one group: each one's lots are ordered and counted on their own.
        accounts = [f"customer:fifo-{uuid.uuid4().hex}:USD" for _ in range(2)]
        stored = [await store(conn, a, d) for a, d in zip(accounts, (first, second), strict=True)]
        loaded = await repo.load_lots(
            conn, now=NOW, fifo=dict(zip(accounts, wanted, strict=True)), due={}
        )
        for account, lots, amount in zip(accounts, stored, wanted, strict=True):
            rule = allocate(lots, amount, NOW)
            mine = [
                Lot(lot.id, lot.remaining, lot.expires_at, lot.granted_at)
                for lot in loaded
                if lot.ledger_account_id == account
            ]
            # The lots the rule takes from, no more and no fewer...
            assert sorted(lot.id for lot in mine) == sorted(a.lot_id for a in rule)
            # ...so planning on what was loaded allocates as it would on every lot.
            assert allocate(mine, amount, NOW) == rule
    finally:
        await tx.rollback()


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    """A ledger session whose changes are rolled back."""
    engine = create_engine(service_url(database_url, "ledger"), pool_size=1, max_overflow=0)
    try:
        async with session_factory(engine)() as opened:
            yield opened
            await opened.rollback()
    finally:
        await engine.dispose()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(drawn=st.lists(drawn_lots, min_size=1, max_size=8))
async def test_listing_lots_by_status_filters_by_the_status_rule(
    session: AsyncSession, drawn: list[Drawn]
) -> None:
    account = f"customer:status-{uuid.uuid4().hex}:USD"
    lots = await store(await driver_connection(session), account, drawn)
    for status in ("active", "used", "expired"):
        listed = await lots_repo.list_lots(
            session, account_id=account, status=status, now=NOW, after=None, limit=100
        )
        expected = {
            lot.id for lot in lots if lot_status(lot.remaining, lot.expires_at, NOW) == status
        }
        assert {lot.id for lot in listed} == expected
    await session.rollback()


# Ages around each bucket's bounds, to the hour.
ages = st.builds(
    lambda days, hours: timedelta(days=days, hours=hours),
    st.sampled_from([0, 1, 29, 30, 31, 59, 60, 61, 89, 90, 91, 400]),
    st.sampled_from([-1, 0, 1, 23]),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(aged=st.lists(st.tuples(ages, st.integers(0, 50)), min_size=1, max_size=8))
async def test_the_liability_report_ages_credit_by_the_bucket_rule(
    session: AsyncSession, aged: list[tuple[timedelta, int]]
) -> None:
    account, program = f"customer:aged-{uuid.uuid4().hex}:USD", uuid.uuid4().hex
    drawn = [Drawn(timedelta(days=30), age, 50, left) for age, left in aged]
    lots = await store(await driver_connection(session), account, drawn, program)
    expected: dict[str, int] = defaultdict(int)
    for lot in lots:
        if lot.remaining > 0:
            expected[age_bucket(lot.granted_at, NOW)] += lot.remaining
    rows = await reports_repo.liability(session, NOW)
    reported = {bucket: int(amount) for _, p, _, bucket, amount in rows if p == program}
    assert reported == expected
    await session.rollback()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(drawn=st.lists(drawn_lots, min_size=1, max_size=8))
async def test_an_expiry_loads_exactly_the_lots_the_book_finds_due(
    conn: asyncpg.Connection, drawn: list[Drawn]
) -> None:
    tx = conn.transaction()
    await tx.start()
    try:
        account = f"customer:due-{uuid.uuid4().hex}:USD"
        lots = await store(conn, account, drawn)
        every = await repo.load_lots(conn, now=NOW, fifo={}, due={}, ids=[x.id for x in lots])
        due = Book.of([], every, [], NOW).due_lots(account, NOW)
        loaded = await repo.load_lots(conn, now=NOW, fifo={}, due={account: NOW})
        assert sorted(lot.id for lot in loaded) == sorted(lot.id for lot in due)
    finally:
        await tx.rollback()
