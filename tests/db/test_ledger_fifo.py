"""Which lots a redemption reaches is written once as a rule (``domain/lots.allocate``: FIFO by
expiry, then grant time, then id); the group writer's SQL (``repository.groups.load_lots``)
picks the same lots so that a group loads no more than its writes can touch. Checked here
against the rule over generated lots on a real database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ledger.domain.lots import Lot, allocate
from services.ledger.repository import groups as repo
from shared.db import driver_dsn, service_url

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Drawn:
    """A lot as generated: days from NOW it expires (at or before NOW: expired), days before
    NOW it was granted, its amount and what is left of it."""

    expires_in: int
    granted_ago: int
    amount: int
    remaining: int


# Few distinct days, so that expiries and grant times tie often and the id decides.
drawn_lots = st.builds(
    lambda expires_in, granted_ago, amount, left: Drawn(
        expires_in, granted_ago, amount, min(left, amount)
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


async def store(conn: asyncpg.Connection, account: str, drawn: list[Drawn]) -> list[Lot]:
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
        granted_at = NOW - timedelta(days=d.granted_ago)
        expires_at = NOW + timedelta(days=d.expires_in)
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
            " unit, amount, remaining, expires_at, granted_at)"
            " VALUES ($1, $2, $3, $3, 'USD', $4, $5, $6, $7)",
            lot_id,
            grant_id,
            account,
            d.amount,
            d.remaining,
            expires_at,
            granted_at,
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
