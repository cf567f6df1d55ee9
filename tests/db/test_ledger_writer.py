"""The ledger's group writes against a real database: keys, repeats, and one bad write
that must not sink the others in its group."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.ledger import repository as repo
from services.ledger.schemas import GrantIn, RedemptionIn
from services.ledger.writer import Outcome, WriteOp, apply_each, apply_group, connect
from shared.db import driver_dsn, service_url
from shared.errors import KeyInFlight, KeyReused, problem_type


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(driver_dsn(service_url(database_url, "ledger")))
    try:
        yield connection
    finally:
        await connection.close()


def grant(account_id: str, amount: int = 500, **changes: object) -> GrantIn:
    body = GrantIn(
        account_id=account_id,
        unit="USD",
        amount=amount,
        expires_at=datetime.now(UTC) + timedelta(days=30),
        program_id="writer-test",
    )
    return body.model_copy(update=changes)


def keyed(body: WriteOp.Body, key: str | None = None) -> WriteOp:
    return WriteOp(body, "writer-test", key or uuid.uuid4().hex, "/v1/test")


async def balance(conn: asyncpg.Connection, account_id: str) -> int | None:
    value = await conn.fetchval(
        "SELECT balance FROM ledger.ledger_accounts WHERE id = $1", f"customer:{account_id}:USD"
    )
    return None if value is None else int(value)


async def test_a_write_the_database_refuses_fails_alone_and_the_rest_of_its_group_lands(
    conn: asyncpg.Connection,
) -> None:
    good, bad = uuid.uuid4().hex, uuid.uuid4().hex
    # Validation keeps NUL characters out at the edge; built around it here, PostgreSQL's
    # jsonb refuses it and fails the group's transaction.
    poisoned = grant(bad, metadata={"note": "\x00"})
    results = await apply_each(conn, [keyed(grant(good)), keyed(poisoned), keyed(grant(good))])
    assert isinstance(results[0], Outcome)
    assert isinstance(results[1], asyncpg.PostgresError)
    assert isinstance(results[2], Outcome)
    assert (results[0].status, results[2].status) == (201, 201)
    assert await balance(conn, good) == 1_000
    assert await balance(conn, bad) is None


async def test_a_key_used_twice_in_one_group_runs_once(conn: asyncpg.Connection) -> None:
    account_id, key = uuid.uuid4().hex, uuid.uuid4().hex
    same, other = keyed(grant(account_id), key), keyed(grant(account_id, 900), key)
    first, repeat, changed = await apply_group(conn, [same, same, other])
    assert (first.status, repeat.status, changed.status) == (201, 201, 422)
    assert repeat.body == first.body
    assert (first.replayed, repeat.replayed) == (False, True)
    assert isinstance(changed.refusal, KeyReused)
    assert await balance(conn, account_id) == 500


async def test_a_key_another_transaction_holds_is_in_flight(
    conn: asyncpg.Connection, database_url: str
) -> None:
    key = uuid.uuid4().hex
    other = await asyncpg.connect(driver_dsn(service_url(database_url, "ledger")))
    try:
        async with other.transaction():
            assert await repo.open_group(other, [("writer-test", key)], []) == [(True, None)]
            (outcome,) = await apply_group(conn, [keyed(grant(uuid.uuid4().hex), key)])
        assert outcome.status == 409
        assert isinstance(outcome.refusal, KeyInFlight)
        assert outcome.body["type"] == problem_type("key-in-flight")
    finally:
        await other.close()


async def test_writes_in_one_group_see_each_other(conn: asyncpg.Connection) -> None:
    account_id = uuid.uuid4().hex
    redeem = RedemptionIn(account_id=account_id, unit="USD", amount=700, invoice_id="inv")
    granted, redeemed = await apply_group(conn, [keyed(grant(account_id)), keyed(redeem)])
    assert granted.status == 201
    assert (redeemed.body["applied"], await balance(conn, account_id)) == (500, 0)


async def test_the_group_writers_statements_are_planned_for_their_arrays(database_url: str) -> None:
    # A generic plan, made once for arrays of any size and kept, is what made the batched
    # path slow in some runs (see WRITER_SETTINGS); the writer's connections never use one.
    writer = await connect(driver_dsn(service_url(database_url, "ledger")))
    try:
        account_id = uuid.uuid4().hex
        for _ in range(8):  # past the five runs after which a generic plan may be kept
            await apply_group(writer, [keyed(grant(account_id, 10)), keyed(grant(account_id, 5))])
        plans = await writer.fetchrow(
            "SELECT sum(generic_plans) AS generic, sum(custom_plans) AS custom"
            " FROM pg_prepared_statements WHERE cardinality(parameter_types) > 0"
        )  # a statement without parameters has one plan, which counts as generic
        assert plans["custom"] > 0
        assert plans["generic"] == 0
        assert await balance(writer, account_id) == 120
    finally:
        await writer.close()
