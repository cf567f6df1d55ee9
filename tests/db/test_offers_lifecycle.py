"""An offer's life in the database: approvals, rejection, revocation and the ledger's reports,
each in one unit of work with the budget it reserves or releases and the messages it owes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.offers.models import Approval, Offer, OfferEvent, Outbox, Program
from services.offers.repository import budgets
from services.offers.repository import offers as repo
from services.offers.service import notifications
from services.offers.service import offers as service
from services.offers.service.credits import apply_credit_moves
from shared.auth import Principal
from shared.contracts import CREDIT_MOVED, CreditMoved
from shared.db import create_engine, service_url, session_factory, unit_of_work
from shared.errors import ApprovalForbidden, IllegalTransition
from shared.outbox import Delivery, Message

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CREDIT = {"kind": "credit", "amount": {"amount_minor": 5000}, "expires_after": "P90D"}
PERK = {"kind": "perk", "perks": [{"perk": "training_credits", "quantity": 2}], "cost_minor": 800}


@pytest.fixture
async def factory(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(service_url(database_url, "offers"))
    yield session_factory(engine)
    await engine.dispose()


def who(name: str, *scopes: str) -> Principal:
    return Principal(uuid.uuid4(), name, frozenset(scopes))


ANN = who("ann", "offers:approve")
FIN = who("fin", "offers:approve_finance")
LEDGER_KEY = who("service:ledger", "offers:write")


async def new_program(session: AsyncSession, owner: str = "owner") -> str:
    """A live program (offers refer to one), under an id of its own."""
    program_id = f"prog-{uuid.uuid4().hex[:12]}"
    await session.execute(
        insert(Program).values(
            id=program_id, status="active", live_version=1, latest_version=1, created_by=owner
        )
    )
    return program_id


def offer_row(program_id: str, **changes: Any) -> dict[str, Any]:
    """An offer as the evaluation proposes it: a 5,000 EUR credit awaiting one approval."""
    account_id = f"acct-{uuid.uuid4().hex[:12]}"
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "account_id": account_id,
        "program_id": program_id,
        "program_version": 1,
        "decision_id": 0,
        "state": "pending_approval",
        "reward": CREDIT,
        "value_minor": 5000,
        "currency": "EUR",
        "tier": "gold",
        "arr_minor": 1_200_000,
        "approvals_required": 1,
        "finance_required": False,
        "budget_scopes": ["program"],
        "credit_expires_after": timedelta(days=90),
        "proposed_by": "proposer",
        "owner": "owner",
        "snapshot": {"account_id": account_id, "colour": "yellow"},
        "created_at": NOW - timedelta(hours=1),
        "updated_at": NOW - timedelta(hours=1),
    }
    row.update(changes)
    return row


async def propose(factory: async_sessionmaker[AsyncSession], **changes: Any) -> Offer:
    """A stored offer whose value is reserved against its program's budget (as proposed)."""
    async with unit_of_work(factory) as session:
        row = offer_row(await new_program(session), **changes)
        # The reservation as the evaluation makes it.
        assert await budgets.reserve(
            session, row["program_id"], "program", row["value_minor"], row["value_minor"]
        )
        await repo.insert_offers(session, [row])
        offer = await repo.get_offer(session, row["id"])
    assert offer is not None
    return offer


async def stored(factory: async_sessionmaker[AsyncSession], offer_id: uuid.UUID) -> Offer:
    async with unit_of_work(factory) as session:
        offer = await repo.get_offer(session, offer_id)
    assert offer is not None
    return offer


async def committed(factory: async_sessionmaker[AsyncSession], program_id: str) -> int:
    async with unit_of_work(factory) as session:
        return (await budgets.committed(session, program_id))["program"]


async def sent(factory: async_sessionmaker[AsyncSession], offer_id: uuid.UUID) -> list[Outbox]:
    """The offer's messages to the ledger, in outbox (delivery) order."""
    async with unit_of_work(factory) as session:
        rows = await session.scalars(
            select(Outbox)
            .where(Outbox.payload["offer_id"].astext == str(offer_id))
            .order_by(Outbox.id)
        )
        return list(rows)


async def story(factory: async_sessionmaker[AsyncSession], offer_id: uuid.UUID) -> list[OfferEvent]:
    async with unit_of_work(factory) as session:
        return list(await repo.events_of(session, offer_id))


def moved(offer: Offer, kind: str, amount: int, remaining: int, **fields: Any) -> CreditMoved:
    """What the ledger says of one transaction on the offer's lot."""
    return CreditMoved.model_validate(
        {
            "offer_id": str(offer.id),
            "kind": kind,
            "transaction_id": str(uuid.uuid4()),
            "hash": uuid.uuid4().hex * 2,
            "amount_minor": amount,
            "remaining_minor": remaining,
            "unit": "EUR",
            "effective_at": NOW + timedelta(days=1),
            **fields,
        }
    )


async def apply(factory: async_sessionmaker[AsyncSession], *moves: CreditMoved) -> None:
    async with unit_of_work(factory) as session:
        await apply_credit_moves(session, moves, NOW + timedelta(days=1))


async def test_the_last_approval_of_a_credit_asks_the_ledger_for_its_grant(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    offer = await propose(factory)
    async with unit_of_work(factory) as session:
        out = await service.approve(session, offer.id, ANN, "fits the renewal", NOW)
    assert out.state == "approved"
    [message] = await sent(factory, offer.id)
    assert (message.destination, message.topic) == ("ledger", "offer.grant_requested")
    assert message.payload == {
        "offer_id": str(offer.id),
        "account_id": offer.account_id,
        "program_id": offer.program_id,
        "tier": "gold",
        "unit": "EUR",
        "amount_minor": 5000,
        "lasts": "P90D",  # from when the ledger grants it
        "approved_at": "2026-11-02T09:00:00Z",
    }
    steps = await story(factory, offer.id)
    assert [(e.event, e.state, e.principal) for e in steps] == [
        ("approval", "pending_approval", "ann"),
        ("approved", "approved", "ann"),
    ]
    assert steps[0].comment == "fits the renewal"
    assert steps[0].detail == {"slot": "approver"}


async def test_a_perk_needing_finance_is_issued_at_its_second_approval_without_the_ledger(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    offer = await propose(
        factory,
        reward=PERK,
        value_minor=800,
        approvals_required=2,
        finance_required=True,
        credit_expires_after=None,
    )
    async with unit_of_work(factory) as session:
        first = await service.approve(session, offer.id, FIN, None, NOW)
    assert first.state == "pending_approval"
    async with unit_of_work(factory) as session:
        with pytest.raises(ApprovalForbidden, match="fin has already approved"):
            await service.approve(session, offer.id, FIN, None, NOW)
    async with unit_of_work(factory) as session:
        second = await service.approve(session, offer.id, ANN, None, NOW)
    assert second.state == "issued"
    assert await sent(factory, offer.id) == []
    assert [(e.event, e.state, e.principal) for e in await story(factory, offer.id)] == [
        ("approval", "pending_approval", "fin"),
        ("approval", "pending_approval", "ann"),
        ("approved", "approved", "ann"),
        ("issued", "issued", "ann"),
    ]
    async with unit_of_work(factory) as session:
        slots = {a.slot: a.principal for a in await repo.approvals_of(session, offer.id)}
    assert slots == {"finance": "fin", "approver": "ann"}


async def test_the_owner_the_proposer_and_a_missing_scope_are_refused_with_the_reason(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    offer = await propose(factory)
    refusals = [
        (who("owner", "offers:approve"), "owns the program"),
        (who("proposer", "admin"), "proposed this offer"),
        (who("writer", "offers:write"), "takes the offers:approve scope"),
    ]
    for principal, reason in refusals:
        async with unit_of_work(factory) as session:
            with pytest.raises(ApprovalForbidden, match=reason):
                await service.approve(session, offer.id, principal, None, NOW)
        async with unit_of_work(factory) as session:
            with pytest.raises(ApprovalForbidden):
                await service.reject(session, offer.id, principal, "no", NOW)
    assert (await stored(factory, offer.id)).state == "pending_approval"
    assert await story(factory, offer.id) == []


async def test_the_approvals_keys_refuse_a_principal_in_two_slots(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    offer = await propose(factory, approvals_required=2, finance_required=True)
    async with unit_of_work(factory) as session:
        assert await repo.add_approval(session, offer.id, "approver", "ann", NOW, None)
        assert not await repo.add_approval(session, offer.id, "finance", "ann", NOW, None)
        assert not await repo.add_approval(session, offer.id, "approver", "bob", NOW, None)


async def test_a_rejection_releases_the_whole_reservation_and_ends_the_offer(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    offer = await propose(factory)
    assert await committed(factory, offer.program_id) == 5000
    async with unit_of_work(factory) as session:
        out = await service.reject(session, offer.id, ANN, "too generous", NOW)
    assert (out.state, out.released_minor) == ("rejected", 5000)
    assert await committed(factory, offer.program_id) == 0
    [step] = await story(factory, offer.id)
    assert (step.event, step.principal, step.comment) == ("rejected", "ann", "too generous")
    assert step.detail == {"released_minor": 5000}
    async with unit_of_work(factory) as session:
        with pytest.raises(IllegalTransition, match="rejected"):
            await service.approve(session, offer.id, FIN, None, NOW)
    async with unit_of_work(factory) as session:
        with pytest.raises(IllegalTransition, match="rejected"):
            await service.reject(session, offer.id, FIN, "no", NOW)
    async with unit_of_work(factory) as session:
        with pytest.raises(IllegalTransition, match="rejected"):
            await service.revoke(session, offer.id, "crm", "no", NOW)
    assert await committed(factory, offer.program_id) == 0


async def test_revoking_before_the_ledger_heard_of_it_releases_everything_at_once(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    pending = await propose(factory)
    perk = await propose(factory, reward=PERK, value_minor=800, approvals_required=0)
    async with unit_of_work(factory) as session:
        perk_offer = await repo.lock_offer(session, perk.id)
        assert perk_offer is not None
        await service.finish_approval(session, perk_offer, "proposer", NOW)
    assert (await stored(factory, perk.id)).state == "issued"
    for offer in (pending, perk):
        async with unit_of_work(factory) as session:
            out = await service.revoke(session, offer.id, "crm", "account churned", NOW)
        assert (out.state, out.released_minor) == ("revoked", offer.value_minor)
        assert await committed(factory, offer.program_id) == 0
        assert await sent(factory, offer.id) == []


async def test_a_revoked_credit_is_reversed_in_the_ledger_and_released_when_it_says_so(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    offer = await propose(factory)
    async with unit_of_work(factory) as session:
        await service.approve(session, offer.id, ANN, None, NOW)
    async with unit_of_work(factory) as session:
        out = await service.revoke(session, offer.id, "crm", "sent in error", NOW)
    assert out.state == "revoked"
    grant, revoke = await sent(factory, offer.id)
    assert (grant.topic, revoke.topic) == ("offer.grant_requested", "offer.revoke_requested")
    assert revoke.payload == {
        "offer_id": str(offer.id),
        "reason": "sent in error",
        "requested_by": "crm",
        "requested_at": "2026-11-02T09:00:00Z",
    }
    # No grant is known yet: the budget comes back at once (the ledger may never grant).
    assert await committed(factory, offer.program_id) == 0
    # The ledger grants (the grant came first), then reverses it: nothing more to release.
    await apply(factory, moved(offer, "grant", 5000, 5000), moved(offer, "reversal", 5000, 0))
    after = await stored(factory, offer.id)
    assert (after.state, after.granted_minor, after.remaining_minor) == ("revoked", 5000, 0)
    assert after.released_minor == 5000
    assert await committed(factory, offer.program_id) == 0
    assert [(e.event, e.state) for e in await story(factory, offer.id)][-3:] == [
        ("revoked", "revoked"),
        ("ledger_grant", "revoked"),
        ("ledger_reversal", "revoked"),
    ]


async def test_a_credit_spent_before_the_ledger_heard_of_its_revoke_is_committed_again(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    offer = await propose(factory)
    async with unit_of_work(factory) as session:
        await service.approve(session, offer.id, ANN, None, NOW)
    async with unit_of_work(factory) as session:
        await service.revoke(session, offer.id, "crm", "sent in error", NOW)
    assert await committed(factory, offer.program_id) == 0
    # Meanwhile the ledger had granted it and billing had applied 2,000 to an invoice.
    await apply(
        factory,
        moved(offer, "grant", 5000, 5000),
        moved(offer, "redemption", 2000, 3000),
        moved(offer, "reversal", 3000, 0),
    )
    after = await stored(factory, offer.id)
    assert (after.state, after.redeemed_minor, after.released_minor) == ("revoked", 2000, 3000)
    assert await committed(factory, offer.program_id) == 2000


async def issued_credit(factory: async_sessionmaker[AsyncSession]) -> Offer:
    """A 5,000 EUR credit approved and granted in the ledger."""
    offer = await propose(factory)
    async with unit_of_work(factory) as session:
        await service.approve(session, offer.id, ANN, None, NOW)
    await apply(factory, moved(offer, "grant", 5000, 5000, expires_at="2027-01-31T09:00:00Z"))
    return await stored(factory, offer.id)


async def test_partial_redemption_then_expiry_releases_only_the_unredeemed_part(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    offer = await issued_credit(factory)
    assert (offer.state, offer.granted_minor, offer.remaining_minor) == ("issued", 5000, 5000)
    redemption = moved(offer, "redemption", 2000, 3000, invoice_id="in_42")
    await apply(factory, redemption)
    after = await stored(factory, offer.id)
    assert (after.state, after.redeemed_minor, after.remaining_minor) == ("redeemed", 2000, 3000)
    await apply(factory, moved(offer, "expiry", 3000, 0))
    after = await stored(factory, offer.id)
    assert (after.state, after.redeemed_minor, after.released_minor) == ("redeemed", 2000, 3000)
    assert await committed(factory, offer.program_id) == 2000  # what was spent stays spent
    steps = await story(factory, offer.id)
    assert [(e.event, e.state, e.principal) for e in steps][-3:] == [
        ("ledger_grant", "issued", "ledger"),
        ("ledger_redemption", "redeemed", "ledger"),
        ("ledger_expiry", "redeemed", "ledger"),
    ]
    assert steps[-2].detail == {
        "transaction_id": str(redemption.transaction_id),
        "hash": redemption.hash,
        "amount_minor": 2000,
        "remaining_minor": 3000,
        "invoice_id": "in_42",
    }
    assert steps[-2].at == redemption.effective_at


async def test_an_unredeemed_credit_expires_and_frees_its_budget(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    offer = await issued_credit(factory)
    await apply(
        factory,
        moved(offer, "redemption", 1000, 4000),
        moved(offer, "redemption_reversal", 1000, 5000),
    )
    back = await stored(factory, offer.id)
    assert (back.state, back.redeemed_minor, back.remaining_minor) == ("redeemed", 0, 5000)
    fresh = await issued_credit(factory)
    await apply(factory, moved(fresh, "expiry", 5000, 0))
    expired = await stored(factory, fresh.id)
    assert (expired.state, expired.released_minor) == ("expired", 5000)
    assert await committed(factory, fresh.program_id) == 0


async def test_a_grant_reversed_in_the_ledger_directly_revokes_the_offer(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    offer = await issued_credit(factory)
    await apply(factory, moved(offer, "reversal", 5000, 0))
    after = await stored(factory, offer.id)
    assert (after.state, after.released_minor) == ("revoked", 5000)
    last = (await story(factory, offer.id))[-1]
    assert (last.event, last.principal, last.comment) == (
        "ledger_reversal",
        "ledger",
        "the grant was reversed in the ledger",
    )


def delivery(*moves: CreditMoved, ids: list[uuid.UUID] | None = None) -> Delivery:
    return Delivery(
        messages=[
            Message(
                id=(ids or [uuid.uuid4() for _ in moves])[n],
                topic=CREDIT_MOVED,
                source="ledger",
                payload=m.model_dump(mode="json"),
            )
            for n, m in enumerate(moves)
        ]
    )


async def test_a_move_delivered_twice_is_applied_once(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    offer = await issued_credit(factory)
    redemption = moved(offer, "redemption", 2000, 3000)
    twice = delivery(redemption, redemption, ids=[uuid.uuid4()] * 2)
    async with unit_of_work(factory) as session:
        ack = await notifications.receive(session, twice, LEDGER_KEY)
    assert (len(ack.processed), len(ack.duplicates)) == (1, 1)
    async with unit_of_work(factory) as session:
        again = await notifications.receive(session, twice, LEDGER_KEY)
    assert (again.processed, len(again.duplicates)) == ([], 2)
    after = await stored(factory, offer.id)
    assert (after.redeemed_minor, after.remaining_minor) == (2000, 3000)
    assert [e.event for e in await story(factory, offer.id)].count("ledger_redemption") == 1


async def test_a_ledger_transaction_is_applied_once_whatever_message_carries_it(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    offer = await issued_credit(factory)
    redemption = moved(offer, "redemption", 2000, 3000)
    for _ in range(2):  # a message re-sent under a new id
        async with unit_of_work(factory) as session:
            await notifications.receive(session, delivery(redemption), LEDGER_KEY)
    after = await stored(factory, offer.id)
    assert (after.redeemed_minor, after.remaining_minor) == (2000, 3000)


async def test_a_move_of_an_unknown_offer_is_acknowledged_and_changes_nothing(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    offer = await issued_credit(factory)
    unknown = moved(offer, "redemption", 100, 0).model_copy(update={"offer_id": "not-an-offer"})
    gone = moved(offer, "redemption", 100, 0).model_copy(update={"offer_id": str(uuid.uuid4())})
    async with unit_of_work(factory) as session:
        ack = await notifications.receive(session, delivery(unknown, gone), LEDGER_KEY)
    assert len(ack.processed) == 2
    assert (await stored(factory, offer.id)).redeemed_minor == 0


async def test_two_approvers_racing_for_the_last_slot_approve_it_once(
    factory: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    offer = await propose(factory)
    bob = who("bob", "offers:approve")
    async with unit_of_work(factory) as first:
        await service.approve(first, offer.id, ANN, None, NOW)

        async def second() -> None:
            async with unit_of_work(factory) as session:
                await service.approve(session, offer.id, bob, None, NOW)

        racing = asyncio.create_task(second())
        await waiting_for_a_lock(database_url)  # bob holds nothing yet: he waits on ann's lock
    with pytest.raises(IllegalTransition, match="approved"):
        await racing
    async with unit_of_work(factory) as session:
        approvals = await session.scalars(select(Approval).where(Approval.offer_id == offer.id))
        assert [a.principal for a in approvals] == ["ann"]
    assert len(await sent(factory, offer.id)) == 1


async def waiting_for_a_lock(database_url: str) -> None:
    """Return once some offers session waits for a row lock (bounded polling)."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        for _ in range(600):
            async with engine.connect() as conn:
                waiting = await conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE usename = 'tenure_offers'"
                        " AND wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE%'"
                    )
                )
            if waiting:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the second approver never waited for the first")
    finally:
        await engine.dispose()


async def test_an_offer_of_an_archived_program_is_not_approved(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    offer = await propose(factory)
    async with unit_of_work(factory) as session:
        await session.execute(
            update(Program).where(Program.id == offer.program_id).values(status="archived")
        )
    with pytest.raises(IllegalTransition, match="archived"):
        async with unit_of_work(factory) as session:
            await service.approve(session, offer.id, ANN, None, NOW)
    assert (await stored(factory, offer.id)).state == "pending_approval"


async def test_finance_alone_fills_no_approver_slot(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    offer = await propose(factory, approvals_required=2, finance_required=True)
    async with unit_of_work(factory) as session:
        await service.approve(session, offer.id, FIN, None, NOW)
    fin2 = who("fin2", "offers:approve_finance")
    with pytest.raises(ApprovalForbidden, match="offers:approve"):
        async with unit_of_work(factory) as session:
            await service.approve(session, offer.id, fin2, None, NOW)
    async with unit_of_work(factory) as session:
        out = await service.approve(session, offer.id, ANN, None, NOW)
    assert out.state == "approved"
