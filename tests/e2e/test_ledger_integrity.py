"""The ledger cannot be made to lie: rows are append-only and tampering is found."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from shared.db import create_engine, service_url
from tests.conftest import Platform, make_key
from tests.e2e.test_ledger import grant, key, redeem
from tests.support import ServiceProcess


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger.postings SET amount = amount + 1",
        "DELETE FROM ledger.postings",
        "UPDATE ledger.transactions SET kind = 'grant'",
        "DELETE FROM ledger.transactions",
        "UPDATE ledger.lot_movements SET amount = 0",
        "DELETE FROM ledger.lot_movements",
    ],
)
async def test_the_ledger_role_cannot_change_or_delete_ledger_rows(
    database_url: str, statement: str
) -> None:
    engine = create_engine(service_url(database_url, "ledger"))
    try:
        async with engine.connect() as conn:
            with pytest.raises(ProgrammingError, match="permission denied"):
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def test_tampering_is_named_by_the_audit(fresh_database: str) -> None:
    ledger = ServiceProcess("ledger", fresh_database)
    await asyncio.to_thread(ledger.start)
    admin = await make_key(fresh_database, "admin")
    try:
        async with httpx.AsyncClient(
            base_url=ledger.url, headers={"Authorization": f"Bearer {admin}"}
        ) as client:
            await grant(client, "acme", 1_000)
            granted = await grant(client, "globex", 500)
            await redeem(client, "acme", 300)
            assert (await client.get("/v1/audit/verify")).json()["ok"] is True

            tx_id = granted["transaction"]["id"]
            superuser = create_engine(fresh_database)
            try:
                async with superuser.begin() as conn:
                    await conn.execute(
                        text(
                            "UPDATE ledger.postings SET amount = amount + 1 "
                            "WHERE transaction_id = :t AND amount > 0"
                        ),
                        {"t": tx_id},
                    )
            finally:
                await superuser.dispose()
            audit = (await client.get("/v1/audit/verify")).json()
            assert audit["ok"] is False
            assert audit["first_break"]["transaction_id"] == tx_id
            assert "sum to zero" in audit["first_break"]["reason"]

            ok = await client.post(
                "/v1/grants",
                json={
                    "account_id": "initech",
                    "unit": "EUR",
                    "amount": 5,
                    "expires_at": "2099-01-01T00:00:00Z",
                    "program_id": "p",
                },
                headers=key(),
            )
            assert ok.status_code == 201
    finally:
        ledger.stop()


async def test_a_changed_balance_is_named_by_the_audit(fresh_database: str) -> None:
    ledger = ServiceProcess("ledger", fresh_database)
    await asyncio.to_thread(ledger.start)
    admin = await make_key(fresh_database, "admin")
    try:
        async with httpx.AsyncClient(
            base_url=ledger.url, headers={"Authorization": f"Bearer {admin}"}
        ) as client:
            await grant(client, "acme", 1_000)
            superuser = create_engine(fresh_database)
            try:
                async with superuser.begin() as conn:
                    await conn.execute(
                        text(
                            "UPDATE ledger.ledger_accounts SET balance = 5000"
                            " WHERE id = 'customer:acme:USD'"
                        )
                    )
            finally:
                await superuser.dispose()
            audit = (await client.get("/v1/audit/verify")).json()
            assert audit["ok"] is False
            assert audit["first_break"]["chain_key"] == "customer:acme:USD"
            assert "differs from its postings" in audit["first_break"]["reason"]
    finally:
        ledger.stop()


async def test_a_truncated_chain_is_named_by_the_audit(fresh_database: str) -> None:
    ledger = ServiceProcess("ledger", fresh_database)
    await asyncio.to_thread(ledger.start)
    admin = await make_key(fresh_database, "admin")
    try:
        async with httpx.AsyncClient(
            base_url=ledger.url, headers={"Authorization": f"Bearer {admin}"}
        ) as client:
            await grant(client, "acme", 1_000)
            await grant(client, "globex", 500)
            last = (await redeem(client, "acme", 300)).json()["transaction"]
            before = (await client.get("/v1/audit/verify")).json()
            assert before["ok"], before
            # Someone with superuser rights cuts the chain's last transaction off, and puts
            # the balance and lot back as they were before it: only the head remembers.
            superuser = create_engine(fresh_database)
            try:
                async with superuser.begin() as conn:
                    params = {"t": last["id"]}
                    await conn.execute(
                        text(
                            "UPDATE ledger.lots AS l SET remaining = l.remaining - m.amount"
                            " FROM ledger.lot_movements AS m"
                            " WHERE m.lot_id = l.id AND m.transaction_id = :t"
                        ),
                        params,
                    )
                    await conn.execute(
                        text(
                            "UPDATE ledger.ledger_accounts SET balance = balance + 300"
                            " WHERE id = 'customer:acme:USD'"
                        )
                    )
                    for table in ("lot_movements", "postings"):
                        await conn.execute(
                            text(f"DELETE FROM ledger.{table} WHERE transaction_id = :t"),
                            params,
                        )
                    await conn.execute(
                        text("DELETE FROM ledger.transactions WHERE id = :t"), params
                    )
            finally:
                await superuser.dispose()
            audit = (await client.get("/v1/audit/verify")).json()
            assert audit["ok"] is False
            assert audit["first_break"]["chain_key"] == "customer:acme:USD"
            assert f"chain head is at {last['chain_seq']}" in audit["first_break"]["reason"]
            assert f"ends at {last['chain_seq'] - 1}" in audit["first_break"]["reason"]
    finally:
        ledger.stop()


async def test_only_an_admin_may_audit_the_whole_ledger(platform: Platform) -> None:
    for scopes in (("ledger:read",), ("ledger:read", "ledger:write")):
        limited = await make_key(platform.database_url, *scopes)
        async with platform.client("ledger", key=limited) as client:
            refused = await client.get("/v1/audit/verify")
        assert refused.status_code == 403, scopes
