"""Statements and finance reports: every figure follows from the postings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import make_key
from tests.e2e.test_ledger import balance, grant, key, redeem
from tests.support import ServiceProcess


@pytest.fixture
async def own_ledger(fresh_database: str) -> AsyncIterator[httpx.AsyncClient]:
    ledger = ServiceProcess("ledger", fresh_database)
    await asyncio.to_thread(ledger.start)
    admin = await make_key(fresh_database, "admin")
    try:
        async with httpx.AsyncClient(
            base_url=ledger.url, headers={"Authorization": f"Bearer {admin}"}
        ) as client:
            yield client
    finally:
        ledger.stop()


async def test_statement_has_opening_entries_and_closing(own_ledger: httpx.AsyncClient) -> None:
    ledger = own_ledger
    await grant(ledger, "acme", 1_000)
    middle = datetime.now(UTC)
    await grant(ledger, "acme", 500, program_id="expansion")
    redeemed = (await redeem(ledger, "acme", 300)).json()
    await ledger.post(
        f"/v1/transactions/{redeemed['transaction']['id']}/reverse",
        json={"reason": "void"},
        headers=key(),
    )
    end = datetime.now(UTC) + timedelta(seconds=1)

    whole: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {
            "unit": "USD",
            "from": middle.isoformat(),
            "to": end.isoformat(),
            "limit": 2,
        }
        if cursor:
            params["cursor"] = cursor
        page = (await ledger.get("/v1/accounts/acme/statement", params=params)).json()
        assert page["opening_balance"] == 1_000
        assert page["closing_balance"] == 1_500
        whole += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in whole] == [
        ("grant", 500, 1_500),
        ("redemption", -300, 1_200),
        ("reversal", 300, 1_500),
    ]
    assert await balance(ledger, "acme") == 1_500
    empty = await ledger.get(
        "/v1/accounts/acme/statement",
        params={"unit": "USD", "from": end.isoformat(), "to": middle.isoformat()},
    )
    assert empty.status_code == 422
    missing = await ledger.get(
        "/v1/accounts/nobody/statement",
        params={"unit": "USD", "from": middle.isoformat(), "to": end.isoformat()},
    )
    assert missing.status_code == 404


async def test_reports_agree_with_the_postings(own_ledger: httpx.AsyncClient) -> None:
    ledger = own_ledger
    await grant(ledger, "acme", 1_000, days=20, tier="gold")
    await grant(ledger, "globex", 2_000, days=75, tier="platinum", program_id="expansion")
    short = await grant(
        ledger, "initech", 400, days=1.5 / 86400, tier="silver", program_id="expansion"
    )
    await redeem(ledger, "acme", 250)
    await asyncio.sleep(
        (datetime.fromisoformat(short["lot"]["expires_at"]) - datetime.now(UTC)).total_seconds()
        + 0.05
    )
    assert (await ledger.post("/v1/expirations/run", json={})).json()["expired_lots"] == 1

    liability = (await ledger.get("/v1/reports/liability")).json()
    assert liability["totals"] == {"USD": 2_750}
    assert sum(r["amount"] for r in liability["rows"]) == 2_750
    assert {(r["program_id"], r["tier"]): r["amount"] for r in liability["rows"]} == {
        ("renewal-credit", "gold"): 750,
        ("expansion", "platinum"): 2_000,
    }
    assert {r["age"] for r in liability["rows"]} == {"0-29"}

    expiring = (await ledger.get("/v1/reports/expiring")).json()
    assert expiring == [
        {"unit": "USD", "within_30_days": 750, "within_60_days": 750, "within_90_days": 2_750}
    ]

    month = datetime.now(UTC).strftime("%Y-%m")
    breakage = (await ledger.get("/v1/reports/breakage")).json()
    assert breakage["rows"] == [
        {"month": month, "unit": "USD", "program_id": "expansion", "amount": 400}
    ]
    assert breakage["totals"] == {"USD": 400}
    redemptions = (await ledger.get("/v1/reports/redemptions")).json()
    assert redemptions["rows"] == [
        {"month": month, "unit": "USD", "program_id": None, "amount": 250}
    ]


async def test_grants_redemptions_and_breakage_of_one_program(
    own_ledger: httpx.AsyncClient,
) -> None:
    ledger = own_ledger
    await grant(ledger, "acme", 1_000, days=10, program_id="alpha")
    await grant(ledger, "acme", 600, days=90, program_id="beta")
    revoked = await grant(ledger, "acme", 500, days=90, program_id="gamma")

    async def reverse(transaction_id: str, reason: str) -> None:
        response = await ledger.post(
            f"/v1/transactions/{transaction_id}/reverse", json={"reason": reason}, headers=key()
        )
        assert response.status_code == 200, response.text

    await reverse(revoked["transaction"]["id"], "revoked")
    # The lots that expire first go first: 1,000 of alpha's, then 200 of beta's.
    assert (await redeem(ledger, "acme", 1_200)).json()["applied"] == 1_200
    voided = (await redeem(ledger, "acme", 100)).json()["transaction"]["id"]
    await reverse(voided, "void")

    month = datetime.now(UTC).strftime("%Y-%m")

    async def report(name: str, program_id: str | None = None) -> dict[str, Any]:
        params = {"program_id": program_id} if program_id else {}
        response = await ledger.get(f"/v1/reports/{name}", params=params)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def row(program_id: str | None, amount: int) -> dict[str, Any]:
        return {"month": month, "unit": "USD", "program_id": program_id, "amount": amount}

    assert (await report("grants", "alpha"))["rows"] == [row("alpha", 1_000)]
    assert (await report("grants", "beta"))["totals"] == {"USD": 600}
    # A reversed grant gives back what it had left: gamma cost nothing.
    assert (await report("grants", "gamma"))["totals"] == {"USD": 0}
    assert (await report("grants"))["totals"] == {"USD": 1_600}

    assert (await report("redemptions", "alpha"))["rows"] == [row("alpha", 1_000)]
    # The voided redemption came out of beta's lot and went back: net 200.
    assert (await report("redemptions", "beta"))["rows"] == [row("beta", 200)]
    assert (await report("redemptions", "gamma")) == {"rows": [], "totals": {}}
    assert (await report("redemptions"))["rows"] == [row(None, 1_200)]

    assert (await report("breakage", "alpha")) == {"rows": [], "totals": {}}
    long = await ledger.get("/v1/reports/breakage", params={"program_id": "x" * 201})
    assert long.status_code == 422
