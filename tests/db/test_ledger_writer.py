"""The ledger's group writes against a real database: keys, repeats, and one bad write
that must not sink the others in its group."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest

from services.ledger.domain.writes import Outcome, WriteOp
from services.ledger.group_writer import apply_each, apply_group, connect
from services.ledger.repository import groups as repo
from services.ledger.schemas import GrantIn, RedemptionIn
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


async def test_the_group_writers_cached_plans_probe_by_key_on_a_small_ledger(
    fresh_database: str,
) -> None:
    # Plans cached while the ledger is small are kept as it grows (see WRITER_SETTINGS):
    # on an empty ledger, the writer's plans must already probe by index, never scan.
    writer = await connect(driver_dsn(service_url(fresh_database, "ledger")))
    try:
        account_id = uuid.uuid4().hex
        for _ in range(6):  # past the five runs after which a generic plan is kept
            redeem = RedemptionIn(account_id=account_id, unit="USD", amount=5, invoice_id="i")
            await apply_group(writer, [keyed(grant(account_id, 10)), keyed(redeem)])
        assert await balance(writer, account_id) == 30
        statements = await writer.fetch(
            "SELECT name, cardinality(parameter_types) AS params FROM pg_prepared_statements"
            " WHERE statement LIKE '%ledger.%' AND cardinality(parameter_types) > 0"
        )
        assert len(statements) >= 4  # open, lock, load, write
        await writer.execute("SET plan_cache_mode = force_generic_plan")
        scans = []
        for name, params in statements:
            nulls = ", ".join(["NULL"] * params)
            plan = await writer.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE {name}({nulls})")
            scans += _scans(orjson.loads(plan)[0]["Plan"])
        assert any(scan.startswith(("Index", "Bitmap")) for scan in scans), scans
        assert not [scan for scan in scans if scan.startswith("Seq Scan")], scans
    finally:
        await writer.close()


def _scans(node: dict[str, Any]) -> list[str]:
    own = [f"{node['Node Type']} on {node['Relation Name']}"] if "Relation Name" in node else []
    return own + [scan for child in node.get("Plans", []) for scan in _scans(child)]
