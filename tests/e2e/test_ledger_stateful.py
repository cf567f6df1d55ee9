"""A Hypothesis state machine drives the real ledger and checks it against a model.

Grants (some expiring within seconds), redemptions, reversals, expiry runs and retries with
reused idempotency keys; after every step: each balance equals the model's, none is negative,
and the audit (chains, hashes, posting sums, derived balances and lots) passes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import make_key
from tests.support import ServiceProcess

ACCOUNTS = ("acme", "globex", "initech")
# A lot is uncertain (may or may not count as expired) this close to its expiry.
SLACK = timedelta(seconds=1)


@dataclass
class ModelLot:
    id: str
    grant_id: str
    account: str
    remaining: int
    expires_at: datetime


@dataclass
class Sent:
    path: str
    body: dict[str, Any]
    key: str
    status: int
    response: Any


@dataclass
class Model:
    balances: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACCOUNTS, 0))
    lots: dict[str, ModelLot] = field(default_factory=dict)
    grants: list[str] = field(default_factory=list)
    redemptions: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    reversed: set[str] = field(default_factory=set)


class LedgerMachine(RuleBasedStateMachine):
    base_url: ClassVar[str]
    api_key: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.client = httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=30
        )
        self.run = uuid.uuid4().hex[:8]
        self.model = Model(balances={self.account(a): 0 for a in ACCOUNTS})
        self.last: Sent | None = None

    def teardown(self) -> None:
        self.client.close()

    def account(self, name: str) -> str:
        return f"{name}-{self.run}"

    def send(self, path: str, body: dict[str, Any]) -> httpx.Response:
        key = uuid.uuid4().hex
        response = self.client.post(path, json=body, headers={"Idempotency-Key": key})
        assert response.status_code < 500, response.text
        self.last = Sent(path, body, key, response.status_code, response.json())
        return response

    @rule(
        name=st.sampled_from(ACCOUNTS),
        amount=st.integers(1, 5_000),
        short=st.booleans(),
    )
    def grant(self, name: str, amount: int, short: bool) -> None:
        expires = datetime.now(UTC) + (timedelta(seconds=2) if short else timedelta(days=30))
        account = self.account(name)
        response = self.send(
            "/v1/grants",
            {
                "account_id": account,
                "unit": "USD",
                "amount": amount,
                "expires_at": expires.isoformat(),
                "program_id": "stateful",
            },
        )
        assert response.status_code == 201, response.text
        body = response.json()
        lot = body["lot"]
        self.model.lots[lot["id"]] = ModelLot(
            lot["id"],
            body["transaction"]["id"],
            account,
            amount,
            datetime.fromisoformat(lot["expires_at"]),
        )
        self.model.grants.append(body["transaction"]["id"])
        self.model.balances[account] += amount

    @rule(name=st.sampled_from(ACCOUNTS), amount=st.integers(1, 8_000), full=st.booleans())
    def redeem(self, name: str, amount: int, full: bool) -> None:
        account = self.account(name)
        now = datetime.now(UTC)
        lots = [lot for lot in self.model.lots.values() if lot.account == account]
        certain = sum(lot.remaining for lot in lots if lot.expires_at > now + SLACK)
        possible = sum(lot.remaining for lot in lots if lot.expires_at > now - SLACK)
        response = self.send(
            "/v1/redemptions",
            {
                "account_id": account,
                "unit": "USD",
                "amount": amount,
                "invoice_id": f"inv-{uuid.uuid4().hex[:6]}",
                "require_full": full,
            },
        )
        if response.status_code == 404:
            assert not lots  # no credit was ever granted to this account
            return
        if response.status_code == 409:
            assert full
            assert possible < amount or certain < amount
            return
        assert response.status_code == 200, response.text
        body = response.json()
        assert min(amount, certain) <= body["applied"] <= min(amount, possible)
        if full:
            assert body["applied"] == amount
        taken = [(a["lot_id"], a["amount"]) for a in body["allocations"]]
        for lot_id, value in taken:
            assert self.model.lots[lot_id].remaining >= value
            self.model.lots[lot_id].remaining -= value
        self.model.balances[account] -= body["applied"]
        if body["transaction"] is not None:
            self.model.redemptions[body["transaction"]["id"]] = taken

    @precondition(lambda self: bool(self.model.grants or self.model.redemptions))
    @rule(pick=st.integers(0, 10_000))
    def reverse(self, pick: int) -> None:
        # An index, not a sampled id: the ids are the server's and differ between runs.
        candidates = [*self.model.grants, *self.model.redemptions]
        target = candidates[pick % len(candidates)]
        response = self.send(f"/v1/transactions/{target}/reverse", {"reason": "stateful"})
        if target in self.model.reversed:
            assert response.status_code == 409
            return
        if target in self.model.redemptions:
            assert response.status_code == 200, response.text
            for lot_id, value in self.model.redemptions[target]:
                self.model.lots[lot_id].remaining += value
                self.model.balances[self.model.lots[lot_id].account] += value
        else:
            lot = next(lot for lot in self.model.lots.values() if lot.grant_id == target)
            if lot.remaining == 0:
                assert response.status_code == 409
                return
            assert response.status_code == 200, response.text
            assert response.json()["reversed_amount"] == lot.remaining
            self.model.balances[lot.account] -= lot.remaining
            lot.remaining = 0
        self.model.reversed.add(target)

    @rule()
    def expire(self) -> None:
        response = self.client.post("/v1/expirations/run", json={})
        assert response.status_code == 200, response.text
        # The run is global (earlier examples' lots expire too): only this run's lots are
        # modelled, and the invariant compares every one of them with the ledger's.
        as_of = datetime.fromisoformat(response.json()["as_of"])
        expected = 0
        for lot in self.model.lots.values():
            if lot.expires_at <= as_of and lot.remaining > 0:
                expected += lot.remaining
                self.model.balances[lot.account] -= lot.remaining
                lot.remaining = 0
        assert response.json()["amounts"].get("USD", 0) >= expected

    @precondition(lambda self: self.last is not None)
    @rule()
    def retry_last(self) -> None:
        assert self.last is not None
        again = self.client.post(
            self.last.path, json=self.last.body, headers={"Idempotency-Key": self.last.key}
        )
        assert again.status_code == self.last.status
        assert again.json() == self.last.response

    @invariant()
    def balances_match_and_the_ledger_verifies(self) -> None:
        for account, expected in self.model.balances.items():
            response = self.client.get(f"/v1/balances/{account}", params={"unit": "USD"})
            actual = response.json()["balances"][0]["balance"] if response.status_code == 200 else 0
            assert actual == expected >= 0
        for name in ACCOUNTS:
            page = self.client.get(
                "/v1/lots", params={"account_id": self.account(name), "limit": 500}
            )
            for lot in page.json()["items"]:
                assert lot["remaining"] == self.model.lots[lot["id"]].remaining
        audit = self.client.get("/v1/audit/verify").json()
        assert audit["ok"], audit


@pytest.fixture
async def own_ledger(fresh_database: str) -> AsyncIterator[tuple[str, str]]:
    ledger = ServiceProcess("ledger", fresh_database)
    await asyncio.to_thread(ledger.start)
    yield ledger.url, await make_key(fresh_database, "admin")
    ledger.stop()


async def test_the_ledger_agrees_with_its_model(own_ledger: tuple[str, str]) -> None:
    LedgerMachine.base_url, LedgerMachine.api_key = own_ledger
    await asyncio.to_thread(
        run_state_machine_as_test,
        LedgerMachine,
        settings=settings(
            max_examples=12,
            stateful_step_count=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
