"""An offer's lifecycle through a real offers process: approvals by principals of different
scopes, what it owes the ledger (its outbox), what the ledger tells it, the lists and the trace.

Offers are inserted in the database as the evaluation stores them. The process's ledger is a
port nothing listens on, so what offers owes the ledger stays in its outbox to be read."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from services.offers.models import Decision, Outbox
from services.offers.repository import offers as repo
from shared import migrate
from shared.cli import create_key_at
from shared.db import create_engine, service_url, session_factory, unit_of_work
from tests.conftest import create_database, drop_database, service_keys
from tests.db.test_offers_lifecycle import NOW, PERK, new_program, offer_row
from tests.e2e.test_request_edge import CHUNK, exchange, pieces
from tests.support import ServiceProcess, free_port, scratch_database_name, with_database


@dataclass
class Offers:
    """A running offers process, its database, and keys of the principals that call it."""

    process: ServiceProcess
    database_url: str
    keys: dict[str, str]

    def client(self, who: str) -> httpx.AsyncClient:
        """A client calling as ``who`` (a key of ``keys``)."""
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        return httpx.AsyncClient(base_url=self.process.url, headers=headers, timeout=30)


PRINCIPALS = {
    "owner": ["offers:approve", "offers:read"],
    "proposer": ["offers:approve_finance"],
    "ann": ["offers:approve"],
    "bob": ["offers:approve"],
    "fin": ["offers:approve_finance"],
    "crm": ["offers:read", "offers:write"],
    "reader": ["offers:read"],
}


@pytest.fixture(scope="module")
async def offers(server_url: str) -> AsyncIterator[Offers]:
    name = scratch_database_name()
    await create_database(server_url, name)
    url = with_database(server_url, name)
    await migrate.upgrade(url)
    keys = {p: (await create_key_at(url, p, s))[1] for p, s in PRINCIPALS.items()}
    services = await service_keys(url)
    keys["ledger"] = services["ledger"]
    process = ServiceProcess(
        "offers",
        url,
        env={
            "TENURE_SERVICE_API_KEY": services["offers"],
            "TENURE_LEDGER_URL": f"http://127.0.0.1:{free_port()}",
        },
    )
    await asyncio.to_thread(process.start)
    yield Offers(process, url, keys)
    process.stop()
    await drop_database(server_url, name)


async def stored_offer(database_url: str, *, program_id: str | None = None, **changes: Any) -> Any:
    """Store an offer (and, with a new program, the program) as the evaluation would, with
    the decision that proposed it; returns its row's values."""
    engine = create_engine(service_url(database_url, "offers"))
    try:
        async with unit_of_work(session_factory(engine)) as session:
            program = program_id or await new_program(session)
            row = offer_row(program, **changes)
            decision_id = await session.scalar(
                insert(Decision)
                .values(
                    decided_at=row["created_at"],
                    account_id=row["account_id"],
                    program_id=program,
                    program_version=1,
                    outcome="offered",
                    reason="entered the 90-day renewal window",
                    offer_id=row["id"],
                    snapshot_computed_at=row["created_at"] - timedelta(minutes=5),
                )
                .returning(Decision.id)
            )
            row["decision_id"] = decision_id
            await repo.insert_offers(session, [row])
    finally:
        await engine.dispose()
    return row


async def outbox(database_url: str, offer_id: uuid.UUID) -> list[tuple[str, str, Any]]:
    """What offers owes the ledger about one offer: (destination, topic, payload) in order."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(Outbox.destination, Outbox.topic, Outbox.payload)
                .where(Outbox.payload["offer_id"].astext == str(offer_id))
                .order_by(Outbox.id)
            )
            return [tuple(r) for r in rows.all()]
    finally:
        await engine.dispose()


def problem(response: httpx.Response, status: int, slug: str) -> str:
    """The detail of a problem response of ``status`` and type ``slug``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == f"https://tenure.dev/problems/{slug}", body
    return str(body["detail"])


async def test_approvals_take_the_principals_scope_and_the_last_asks_the_ledger_for_the_grant(
    offers: Offers,
) -> None:
    row = await stored_offer(offers.database_url, approvals_required=2, finance_required=True)
    path = f"/v1/offers/{row['id']}/approve"
    refusals = {
        "owner": "owner owns the program",
        "proposer": "proposer proposed this offer",
        "reader": "the approval still missing takes the offers:approve scope",
    }
    for who, reason in refusals.items():
        async with offers.client(who) as client:
            assert reason in problem(await client.post(path, json={}), 403, "approval-forbidden")
    async with offers.client("ann") as client:
        first = await client.post(path, json={"comment": "renewal at risk"})
        assert first.status_code == 200, first.text
        assert first.json()["state"] == "pending_approval"
        again = await client.post(path, json={})
        assert "ann has already approved" in problem(again, 403, "approval-forbidden")
    async with offers.client("bob") as client:
        refused = await client.post(path, json={})
        assert "offers:approve_finance" in problem(refused, 403, "approval-forbidden")
    assert await outbox(offers.database_url, row["id"]) == []
    async with offers.client("fin") as client:
        last = await client.post(path, json={})
        assert last.status_code == 200, last.text
        assert last.json()["state"] == "approved"
        late = await client.post(path, json={})
        problem(late, 409, "illegal-transition")
    async with httpx.AsyncClient(base_url=offers.process.url) as anonymous:
        assert (await anonymous.post(path, json={})).status_code == 401

    [(destination, topic, payload)] = await outbox(offers.database_url, row["id"])
    assert (destination, topic) == ("ledger", "offer.grant_requested")
    assert datetime.fromisoformat(payload.pop("approved_at")) <= datetime.now(UTC)
    assert payload.pop("lasts") == "P90D"
    assert payload == {
        "offer_id": str(row["id"]),
        "account_id": row["account_id"],
        "program_id": row["program_id"],
        "tier": "gold",
        "unit": "EUR",
        "amount_minor": 5000,
    }


async def test_a_rejection_needs_an_approver_and_frees_the_budget(offers: Offers) -> None:
    row = await stored_offer(offers.database_url)
    path = f"/v1/offers/{row['id']}/reject"
    async with offers.client("owner") as client:
        refused = await client.post(path, json={"comment": "no"})
        assert "owns the program" in problem(refused, 403, "approval-forbidden")
    async with offers.client("crm") as client:
        refused = await client.post(path, json={"comment": "no"})
        assert "takes the offers:approve scope" in problem(refused, 403, "approval-forbidden")
    async with offers.client("ann") as client:
        assert (await client.post(path, json={})).status_code == 422  # a reason is required
        rejected = await client.post(path, json={"comment": "too generous"})
        assert rejected.status_code == 200, rejected.text
        assert (rejected.json()["state"], rejected.json()["released_minor"]) == ("rejected", 5000)
        approve = await client.post(f"/v1/offers/{row['id']}/approve", json={})
        assert "rejected" in problem(approve, 409, "illegal-transition")
    async with offers.client("crm") as client:
        unknown = await client.get(f"/v1/offers/{uuid.uuid4()}")
        problem(unknown, 404, "unknown-offer")
        assert (await client.get("/v1/offers/not-a-uuid")).status_code == 422


def credit_moved(offer_id: uuid.UUID, kind: str, amount: int, remaining: int) -> dict[str, Any]:
    """A message of the ledger's outbox about one transaction on an offer's lot."""
    return {
        "id": str(uuid.uuid4()),
        "topic": "credit.moved",
        "source": "ledger",
        "payload": {
            "offer_id": str(offer_id),
            "kind": kind,
            "transaction_id": str(uuid.uuid4()),
            "hash": uuid.uuid4().hex * 2,
            "amount_minor": amount,
            "remaining_minor": remaining,
            "unit": "EUR",
            "invoice_id": "in_42" if kind == "redemption" else None,
            "effective_at": (NOW + timedelta(days=2)).isoformat(),
        },
    }


async def test_the_ledgers_credit_moves_move_the_offer_and_the_trace_tells_it_all(
    offers: Offers,
) -> None:
    row = await stored_offer(offers.database_url)
    async with offers.client("ann") as client:
        approved = await client.post(f"/v1/offers/{row['id']}/approve", json={"comment": "ok"})
        assert approved.status_code == 200, approved.text
    grant = credit_moved(row["id"], "grant", 5000, 5000)
    redemption = credit_moved(row["id"], "redemption", 2000, 3000)
    unknown = credit_moved(uuid.uuid4(), "redemption", 10, 0)
    async with offers.client("ledger") as ledger:
        delivered = await ledger.post(
            "/v1/notifications", json={"messages": [grant, redemption, unknown]}
        )
        assert delivered.status_code == 200, delivered.text
        assert len(delivered.json()["processed"]) == 3  # the unknown offer's too: not parked
        again = await ledger.post("/v1/notifications", json={"messages": [redemption]})
        assert again.json() == {"processed": [], "duplicates": [redemption["id"]]}
    async with offers.client("reader") as client:
        offer = (await client.get(f"/v1/offers/{row['id']}")).json()
        assert (offer["state"], offer["granted_minor"]) == ("redeemed", 5000)
        assert (offer["redeemed_minor"], offer["remaining_minor"]) == (2000, 3000)
    async with offers.client("ann") as client:  # revoking takes offers:write
        problem(
            await client.post(f"/v1/offers/{row['id']}/revoke", json={"reason": "x"}),
            403,
            "forbidden",
        )
    async with offers.client("crm") as client:
        revoked = await client.post(
            f"/v1/offers/{row['id']}/revoke", json={"reason": "account churned"}
        )
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["state"] == "revoked"
    topics = [t for _d, t, _p in await outbox(offers.database_url, row["id"])]
    assert topics == ["offer.grant_requested", "offer.revoke_requested"]
    reversal = credit_moved(row["id"], "reversal", 3000, 0)
    async with offers.client("ledger") as ledger:
        response = await ledger.post("/v1/notifications", json={"messages": [reversal]})
        assert response.status_code == 200, response.text

    async with offers.client("reader") as client:
        trace = (await client.get(f"/v1/offers/{row['id']}/trace")).json()
    assert trace["offer"]["state"] == "revoked"
    assert trace["offer"]["released_minor"] == 3000  # the unredeemed part
    assert trace["snapshot"] == row["snapshot"]
    decision = trace["decision"]
    assert (decision["id"], decision["outcome"]) == (row["decision_id"], "offered")
    assert decision["reason"] == "entered the 90-day renewal window"
    assert [(a["slot"], a["principal"], a["comment"]) for a in trace["approvals"]] == [
        ("approver", "ann", "ok")
    ]
    assert [(e["event"], e["state"], e["principal"]) for e in trace["events"]] == [
        ("approval", "pending_approval", "ann"),
        ("approved", "approved", "ann"),
        ("ledger_grant", "issued", "ledger"),
        ("ledger_redemption", "redeemed", "ledger"),
        ("revoked", "revoked", "crm"),
        ("ledger_reversal", "revoked", "ledger"),
    ]
    assert trace["events"][4]["comment"] == "account churned"
    assert [
        (t["kind"], t["transaction_id"], t["hash"], t["invoice_id"])
        for t in trace["ledger_transactions"]
    ] == [
        (m["payload"]["kind"], m["payload"]["transaction_id"], m["payload"]["hash"], i)
        for m, i in ((grant, None), (redemption, "in_42"), (reversal, None))
    ]


async def test_offers_list_newest_first_by_account_program_and_state_in_cursor_pages(
    offers: Offers,
) -> None:
    first = await stored_offer(offers.database_url)
    program_id, account_id = first["program_id"], first["account_id"]
    later = [
        await stored_offer(
            offers.database_url,
            program_id=program_id,
            account_id=account_id,
            created_at=first["created_at"] + timedelta(minutes=n),
            **({"state": "issued", "reward": PERK} if n == 2 else {}),
        )
        for n in (1, 2, 3)
    ]
    elsewhere = await stored_offer(offers.database_url, account_id=account_id)
    newest_first = [str(r["id"]) for r in reversed([first, *later])]
    async with offers.client("reader") as client:
        by_program = await client.get("/v1/offers", params={"program_id": program_id, "limit": 3})
        assert by_program.status_code == 200, by_program.text
        page = by_program.json()
        assert [o["id"] for o in page["items"]] == newest_first[:3]
        rest = await client.get(
            "/v1/offers",
            params={"program_id": program_id, "limit": 3, "cursor": page["next_cursor"]},
        )
        assert [o["id"] for o in rest.json()["items"]] == newest_first[3:]
        assert rest.json()["next_cursor"] is None
        foreign = await client.get(
            "/v1/offers", params={"account_id": account_id, "cursor": page["next_cursor"]}
        )
        assert foreign.status_code == 400  # a cursor of another filter
        by_account = (await client.get("/v1/offers", params={"account_id": account_id})).json()
        assert {o["id"] for o in by_account["items"]} == {*newest_first, str(elsewhere["id"])}
        issued = await client.get(
            "/v1/offers", params={"program_id": program_id, "state": "issued"}
        )
        assert [o["id"] for o in issued.json()["items"]] == [str(later[1]["id"])]
        assert (await client.get("/v1/offers", params={"state": "lost"})).status_code == 422
    async with offers.client("ann") as client:
        problem(await client.get("/v1/offers"), 403, "forbidden")


@pytest.mark.parametrize("action", ["approve", "reject"])
async def test_deciding_without_a_key_is_a_401_before_the_body_is_read(
    offers: Offers, action: str
) -> None:
    answer = await exchange(
        offers.process.url,
        "POST",
        f"/v1/offers/{uuid.uuid4()}/{action}",
        {"Content-Type": "application/json", "Content-Length": str(2 * 1024**3)},
        pieces(len(CHUNK)),
    )
    assert answer.status == 401
