"""Offers' requests as ledger writes, and what the ledger tells offers, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from services.ledger.domain.book import Book, BookLot, Head
from services.ledger.domain.credit import movement_kind
from services.ledger.domain.offers import grant_of, message_pointer, problem_errors
from services.ledger.domain.planning import plan_write
from services.ledger.domain.writes import WriteOp
from services.ledger.schemas import GrantIn, RedemptionIn
from shared.contracts import GrantRequested, RevokeRequested, grant_idempotency_key
from shared.errors import Unprocessable
from shared.outbox import Delivery, Message, read_delivery, read_topics

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CUSTOMER = "customer:acme:USD"


def request(**changes: object) -> GrantRequested:
    base = GrantRequested(
        offer_id="o-1",
        account_id="acme",
        program_id="winback",
        tier="gold",
        unit="USD",
        amount_minor=500,
        lasts=timedelta(days=30),
        approved_at=NOW,
    )
    return base.model_copy(update=changes)


@pytest.mark.parametrize(
    ("kind", "amount", "told"),
    [
        ("grant", 500, "grant"),
        ("redemption", -200, "redemption"),
        ("expiry", -300, "expiry"),
        ("reversal", 200, "redemption_reversal"),  # a redemption given back
        ("reversal", -300, "reversal"),  # a grant taken back (a revoke)
        ("adjustment", -100, "reversal"),
        ("adjustment", 100, "redemption_reversal"),
    ],
)
def test_each_movement_is_told_as_the_contracts_kind(kind: str, amount: int, told: str) -> None:
    assert movement_kind(kind, amount) == told


def test_a_grant_request_is_the_grant_it_asks_for_under_the_offers_key() -> None:
    key, grant = grant_of(0, request(), NOW)
    assert key == "offer:o-1"
    assert isinstance(grant, GrantIn)
    assert grant.expires_at == NOW + timedelta(days=30)  # lasting from the grant
    assert (grant.account_id, grant.amount, grant.offer_id, grant.tier) == (
        "acme",
        500,
        "o-1",
        "gold",
    )


def test_what_the_ledger_cannot_hold_points_into_the_message() -> None:
    _, errors = grant_of(3, request(account_id="acme/eu"), NOW)
    assert isinstance(errors, list)
    assert [e.pointer for e in errors] == ["/messages/3/payload/account_id"]


def test_an_offer_id_the_grant_key_cannot_hold_breaks_the_contract() -> None:
    assert len(grant_idempotency_key("x" * 194)) == 200
    fields = request().model_dump() | {"offer_id": "x" * 195}
    with pytest.raises(ValidationError, match="offer_id"):
        GrantRequested.model_validate(fields)


def test_a_refused_grants_problem_points_at_the_messages_field() -> None:
    assert message_pointer(2, "/amount") == "/messages/2/payload/amount_minor"
    assert message_pointer(2, "/expires_at") == "/messages/2/payload/expires_at"
    assert message_pointer(2, None) == "/messages/2/payload"
    problem = {
        "detail": "no",
        "errors": [{"detail": "must be in the future", "pointer": "/expires_at"}],
    }
    assert [e.pointer for e in problem_errors(0, problem)] == ["/messages/0/payload/expires_at"]


def test_only_an_offers_lot_is_told_of_with_its_remainder() -> None:
    plain = BookLot(
        uuid.uuid4(),
        uuid.uuid4(),
        CUSTOMER,
        "acme",
        "USD",
        100,
        100,
        NOW + timedelta(days=1),
        NOW - timedelta(days=1),
        "p",
        None,
    )
    book = Book.of([Head(CUSTOMER, 100, 0, None)], [plain], [], NOW)
    grant = GrantIn.model_validate(
        {
            "account_id": "acme",
            "unit": "USD",
            "amount": 400,
            "program_id": "p",
            "offer_id": "o-9",
            "expires_at": NOW + timedelta(days=9),
        }
    )
    plan_write(book, WriteOp(grant, "t", "k1"), {})
    redeem = RedemptionIn(account_id="acme", unit="USD", amount=250, invoice_id="in_1")
    plan_write(book, WriteOp(redeem, "t", "k2"), {})
    granted, redeemed = book.entries
    assert [(m["kind"], m["amount_minor"], m["remaining_minor"]) for m in granted.credit_moves] == [
        ("grant", 400, 400)
    ]
    # 100 from the plain lot (it expires first), 150 from the offer's: only the latter told.
    assert [
        (m["kind"], m["amount_minor"], m["remaining_minor"], m["invoice_id"])
        for m in redeemed.credit_moves
    ] == [("redemption", 150, 250, "in_1")]
    assert redeemed.credit_moves[0]["hash"] == redeemed.fields["hash"]


def message(topic: str, payload: dict[str, Any]) -> Message:
    return Message(id=uuid.uuid4(), topic=topic, source="offers", payload=payload)


def test_two_topics_read_in_delivery_order_and_refused_together() -> None:
    revoke = {"offer_id": "o", "reason": "r", "requested_by": "c", "requested_at": NOW.isoformat()}
    grant = request().model_dump(mode="json")
    models: dict[str, type[BaseModel]] = {"g": GrantRequested, "r": RevokeRequested}
    delivery = Delivery(messages=[message("r", revoke), message("x", {}), message("g", grant)])
    assert [type(m).__name__ for _, m in read_topics(delivery, models)] == [
        "RevokeRequested",
        "GrantRequested",
    ]
    bad = Delivery(
        messages=[
            message("g", {**grant, "amount_minor": 0}),
            message("r", {**revoke, "reason": ""}),
        ]
    )
    with pytest.raises(Unprocessable) as refused:
        read_topics(bad, models)
    assert [e.pointer for e in refused.value.errors] == [
        "/messages/0/payload/amount_minor",
        "/messages/1/payload/reason",
    ]
    assert read_delivery(bad, "x", GrantRequested) == []  # one topic, as before
