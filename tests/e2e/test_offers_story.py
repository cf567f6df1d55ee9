"""The whole story on the four real services: an account's events become a score, the score a
renewal credit, the credit two approvals, a grant, a redemption on an invoice, and a trace
that shows each step; a credit left to expire becomes breakage; a held-out account gets
nothing but its decision."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from segment.analytics import Client

from shared.cli import create_key_at
from tests.conftest import Platform
from tests.e2e.test_scoring import eventually, snapshot_of
from tests.e2e.test_segment import segment_source
from tests.offers_support import delivery, held_out_account, snapshot, treated_account

ARR = 6_000_000  # 60,000.00 USD: MRR 5,000.00


async def key(platform: Platform, principal: str, *scopes: str) -> str:
    _key, raw = await create_key_at(platform.database_url, principal, list(scopes))
    return raw


def days_ahead(days: int) -> str:
    """The date ``days`` from today."""
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


def crm_account(**changes: Any) -> dict[str, Any]:
    """A gold-sized annual account renewing in 59 days, as a CRM upserts it."""
    today = datetime.now(UTC).date()
    body: dict[str, Any] = {
        "name": "Globex",
        "motion_segment": "mid_market",
        "plan": "business",
        "billing_period": "annual",
        "mrr_minor": ARR // 12,
        "currency": "USD",
        "seats_purchased": 60,
        "contract_start": (today - timedelta(days=306)).isoformat(),
        "renewal_date": (today + timedelta(days=59)).isoformat(),
        "status": "active",
    }
    body.update(changes)
    return body


def use_the_product(host: str, write_key: str, account_id: str, users: int) -> None:
    """``users`` people of the account log in and make a report, through Segment's SDK."""
    client = Client(write_key, host=host, sync_mode=True, max_retries=2)
    for n in range(users):
        user = f"{account_id}-user-{n}"
        client.group(user, account_id, {"name": "Globex"})
        client.track(user, "login", context={"groupId": account_id})
        client.track(user, "report_created", context={"groupId": account_id})
    client.flush()


async def offer_of(offers: httpx.AsyncClient, account_id: str, program_id: str) -> Any:
    listed = await offers.get(
        "/v1/offers", params={"account_id": account_id, "program_id": program_id}
    )
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    return items[0] if items else None


async def offer(offers: httpx.AsyncClient, offer_id: str) -> dict[str, Any]:
    got = await offers.get(f"/v1/offers/{offer_id}")
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


async def test_a_renewal_credit_from_events_to_a_redeemed_invoice_and_its_trace(
    platform: Platform,
) -> None:
    account_id = treated_account("renewal_credit", "story")
    async with (
        platform.client("ingest") as ingest,
        platform.client("scoring") as scoring,
        platform.client("offers") as offers,
        platform.client("ledger") as ledger,
    ):
        # The account is in use before its renewal comes near: 60 people active, gold.
        later = crm_account(renewal_date=days_ahead(200))
        assert (await ingest.put(f"/v1/accounts/{account_id}", json=later)).status_code == 201
        write_key = await segment_source(ingest)
        await asyncio.to_thread(use_the_product, platform.ingest.url, write_key, account_id, 60)
        await eventually(
            lambda: snapshot_of(scoring, account_id),
            lambda s: s is not None and s["active_seats"] == 60,
            60,
        )
        assert await offer_of(offers, account_id, "renewal_credit") is None
        # The CRM moves the renewal 59 days out: scoring announces it, offers proposes.
        soon = crm_account(renewal_date=days_ahead(59))
        assert (await ingest.put(f"/v1/accounts/{account_id}", json=soon)).status_code == 200

        proposed = await eventually(
            lambda: offer_of(offers, account_id, "renewal_credit"), lambda o: o is not None, 60
        )
        assert proposed["state"] == "pending_approval"
        assert proposed["tier"] == "gold"
        assert proposed["value_minor"] == ARR * 3 // 100
        offer_id = proposed["id"]

        # Above the finance limit: an approver and someone from finance, neither the owner.
        owner = await key(platform, "tenure", "offers:approve")
        approver_name, finance_name = f"ana-{uuid.uuid4().hex[:6]}", f"bo-{uuid.uuid4().hex[:6]}"
        approver = await key(platform, approver_name, "offers:approve")
        finance = await key(platform, finance_name, "offers:approve_finance")
        async with platform.client("offers", owner) as as_owner:
            refused = await as_owner.post(
                f"/v1/offers/{offer_id}/approve", json={"comment": "mine"}
            )
            assert refused.status_code == 403
        async with platform.client("offers", approver) as as_approver:
            first = await as_approver.post(
                f"/v1/offers/{offer_id}/approve", json={"comment": "renewal at risk of slipping"}
            )
            assert first.status_code == 200, first.text
            assert first.json()["state"] == "pending_approval"
            twice = await as_approver.post(
                f"/v1/offers/{offer_id}/approve", json={"comment": "again"}
            )
            assert twice.status_code == 403
        async with platform.client("offers", finance) as as_finance:
            second = await as_finance.post(
                f"/v1/offers/{offer_id}/approve", json={"comment": "within budget"}
            )
            assert second.status_code == 200, second.text

        issued = await eventually(
            lambda: offer(offers, offer_id), lambda o: o["state"] == "issued", 30
        )
        assert issued["granted_minor"] == ARR * 3 // 100
        balances = (await ledger.get(f"/v1/balances/{account_id}")).json()["balances"]
        assert [(b["unit"], b["balance"]) for b in balances] == [("USD", ARR * 3 // 100)]

        # Billing applies part of the credit to an invoice.
        redeemed = await ledger.post(
            "/v1/redemptions",
            json={"account_id": account_id, "unit": "USD", "amount": 50_000, "invoice_id": "inv-1"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert redeemed.status_code == 200, redeemed.text
        spent = await eventually(
            lambda: offer(offers, offer_id), lambda o: o["state"] == "redeemed", 30
        )
        assert spent["redeemed_minor"] == 50_000
        assert spent["remaining_minor"] == ARR * 3 // 100 - 50_000

        trace = (await offers.get(f"/v1/offers/{offer_id}/trace")).json()
        assert trace["snapshot"]["account_id"] == account_id
        assert trace["snapshot"]["days_to_renewal"] == 59
        assert trace["decision"]["outcome"] == "offered"
        steps = [(e["event"], e["principal"]) for e in trace["events"]]
        assert steps[0] == ("proposed", "service:scoring")
        assert [p for e, p in steps if e == "approval"] == [approver_name, finance_name]
        assert [(a["slot"], a["principal"]) for a in trace["approvals"]] == [
            ("approver", approver_name),
            ("finance", finance_name),
        ]
        moved = trace["ledger_transactions"]
        assert [(t["kind"], t["amount_minor"]) for t in moved] == [
            ("grant", ARR * 3 // 100),
            ("redemption", 50_000),
        ]
        assert all(len(t["hash"]) == 64 for t in moved)
        assert moved[1]["invoice_id"] == "inv-1"
        audit = (await ledger.get("/v1/audit/verify")).json()
        assert audit["ok"] is True


async def test_a_credit_left_unredeemed_expires_into_breakage_and_frees_its_budget(
    platform: Platform,
) -> None:
    name = f"expiring-{uuid.uuid4().hex[:8]}"
    author = await key(platform, f"author-{uuid.uuid4().hex[:6]}", "offers:write")
    approver = await key(platform, f"approver-{uuid.uuid4().hex[:6]}", "offers:approve")
    definition = {
        "name": name,
        "owner": "test-owner",
        "trigger": f"account.name == '{name}'",
        "reward": {"kind": "credit", "amount": {"amount_minor": 2_500}, "expires_after": "PT2S"},
        "limits": {"budget_minor": 10_000, "cooldown_days": 0},
        "approval": {"auto_approve_up_to_minor": 5_000},
        "holdout_percent": 0,
    }
    async with platform.client("offers", author) as as_author:
        created = await as_author.post("/v1/programs", json=definition)
        assert created.status_code == 201, created.text
        program_id = created.json()["id"]
    async with platform.client("offers", approver) as as_approver:
        assert (
            await as_approver.post(f"/v1/programs/{program_id}/approve", json={"version": 1})
        ).status_code == 200
    account_id = f"{name}-acct"
    async with platform.client("offers") as offers, platform.client("ledger") as ledger:
        await offers.post("/v1/notifications", json=delivery(snapshot(account_id, name=name)))
        made = await offer_of(offers, account_id, program_id)
        assert made is not None
        issued = await eventually(
            lambda: offer(offers, made["id"]), lambda o: o["state"] == "issued", 30
        )
        lots = (await ledger.get("/v1/lots", params={"account_id": account_id})).json()["items"]
        expires_at = datetime.fromisoformat(lots[0]["expires_at"])
        # Wait out the lot's life (2 s): the sweep may only expire what is past its date.
        await asyncio.sleep(max((expires_at - datetime.now(UTC)).total_seconds(), 0) + 0.05)
        run = await ledger.post("/v1/expirations/run", json={})
        assert run.status_code == 200, run.text
        expired = await eventually(
            lambda: offer(offers, made["id"]), lambda o: o["state"] == "expired", 30
        )
        assert expired["released_minor"] == issued["value_minor"] == 2_500
        assert expired["redeemed_minor"] == 0
        breakage = (
            await ledger.get(
                "/v1/transactions", params={"account_id": account_id, "kind": "expiry"}
            )
        ).json()["items"]
        assert len(breakage) == 1


async def test_a_held_out_account_gets_nothing_and_its_decision_is_kept(
    platform: Platform,
) -> None:
    account_id = held_out_account("renewal_credit", "story-held")
    async with platform.client("ingest") as ingest, platform.client("offers") as offers:
        assert (
            await ingest.put(f"/v1/accounts/{account_id}", json=crm_account())
        ).status_code == 201
        write_key = await segment_source(ingest)
        await asyncio.to_thread(use_the_product, platform.ingest.url, write_key, account_id, 1)

        async def held() -> list[dict[str, Any]]:
            page = await offers.get(
                "/v1/decisions", params={"account_id": account_id, "program_id": "renewal_credit"}
            )
            items: list[dict[str, Any]] = page.json()["items"]
            return items

        kept = await eventually(held, lambda d: len(d) > 0, 60)
        assert {d["outcome"] for d in kept} == {"holdout"}
        assert all("holdout" in d["reason"] for d in kept)
        assert await offer_of(offers, account_id, "renewal_credit") is None
