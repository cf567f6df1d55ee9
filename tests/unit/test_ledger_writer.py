"""The ledger's write planning, without a database: writes planned against a book of locked
state, and the JSON they answer with, held to the response models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.ledger.domain.amounts import MAX_AMOUNT_MINOR, MAX_BALANCE_MINOR
from services.ledger.domain.book import Book, BookLot, Head, TxRow
from services.ledger.domain.planning import plan_write
from services.ledger.domain.writes import Expiry, WriteOp
from services.ledger.rendering import iso, lot_json
from services.ledger.repository.book import Named
from services.ledger.schemas import (
    AdjustmentIn,
    GrantIn,
    GrantOut,
    LotOut,
    RedemptionIn,
    RedemptionOut,
    ReversalIn,
    ReversalOut,
    TransactionOut,
)
from shared.errors import Conflict, NotFound, NotReversible, Unprocessable

NOW = datetime(2026, 11, 24, 12, 0, 0, 250_000, tzinfo=UTC)
CUSTOMER = "customer:acme:USD"


def book(*lots: BookLot, balance: int = 0) -> Book:
    return Book.of([Head(CUSTOMER, balance, 0, None)], lots, [], NOW)


def lot(remaining: int, expires_in_days: float, amount: int = 1_000) -> BookLot:
    return BookLot(
        id=uuid.uuid4(),
        grant_id=uuid.uuid4(),
        ledger_account_id=CUSTOMER,
        customer_account_id="acme",
        unit="USD",
        amount=amount,
        remaining=remaining,
        expires_at=NOW + timedelta(days=expires_in_days),
        granted_at=NOW - timedelta(days=1),
        program_id="winback",
        tier=None,
    )


def plan(b: Book, body: WriteOp.Body, original: TxRow | None = None) -> tuple[int, object]:
    originals = {original.id: original} if original else {}
    return plan_write(b, WriteOp(body, "crm", "key-1"), originals)


def grant_body(amount: int = 500) -> GrantIn:
    return GrantIn(
        account_id="acme",
        unit="USD",
        amount=amount,
        expires_at=NOW + timedelta(days=30),
        program_id="winback",
        offer_id="offer-1",
    )


def test_a_grant_answers_with_its_transaction_and_lot_exactly_as_the_models_say() -> None:
    b = book()
    status, body = plan(b, grant_body())
    assert status == 201
    assert body == GrantOut.model_validate(body).model_dump(mode="json")
    assert body["lot"]["remaining"] == 500
    assert body["lot"]["status"] == "active"
    assert b.heads[CUSTOMER].balance == 500
    assert b.heads[CUSTOMER].chain_seq == 1


def test_a_redemption_takes_from_lots_that_expire_first_and_answers_as_the_model_says() -> None:
    soon, late = lot(300, 5), lot(1_000, 50)
    b = book(late, soon, balance=1_300)
    status, body = plan(b, RedemptionIn(account_id="acme", unit="USD", amount=500, invoice_id="i"))
    assert status == 200
    assert body == RedemptionOut.model_validate(body).model_dump(mode="json")
    assert body["allocations"] == [
        {"lot_id": str(soon.id), "amount": 300},
        {"lot_id": str(late.id), "amount": 200},
    ]
    assert (soon.remaining, late.remaining, b.heads[CUSTOMER].balance) == (0, 800, 800)


def test_a_redemption_that_must_apply_in_full_changes_nothing_when_it_cannot() -> None:
    b = book(lot(100, 5), balance=100)
    body = RedemptionIn(
        account_id="acme", unit="USD", amount=500, invoice_id="i", require_full=True
    )
    with pytest.raises(Conflict):
        plan(b, body)
    assert b.entries == []
    assert b.heads[CUSTOMER].balance == 100


def test_writes_on_an_account_the_ledger_has_never_seen_are_refused() -> None:
    empty = Book.of([], [], [], NOW)
    with pytest.raises(NotFound):
        plan(empty, RedemptionIn(account_id="acme", unit="USD", amount=5, invoice_id="i"))
    with pytest.raises(NotFound):
        plan(empty, ReversalIn(transaction_id=uuid.uuid4(), reason="oops"))


def test_a_grant_that_expires_in_the_past_is_refused() -> None:
    body = grant_body().model_copy(update={"expires_at": NOW - timedelta(days=1)})
    with pytest.raises(Unprocessable):
        plan(book(), body)


def test_reversing_a_grant_takes_back_what_is_left_and_not_twice() -> None:
    b = book()
    _, granted = plan(b, grant_body(1_000))
    assert isinstance(granted, dict)
    b.lots[uuid.UUID(granted["lot"]["id"])].remaining = 400  # 600 was redeemed
    b.heads[CUSTOMER].balance = 400
    original = TxRow(
        id=uuid.UUID(granted["transaction"]["id"]),
        kind="grant",
        customer_account_id="acme",
        offer_id="offer-1",
        program_id="winback",
        invoice_id=None,
        tier=None,
        postings=[("expense:program:winback:USD", "USD", 1_000), (CUSTOMER, "USD", -1_000)],
        movements=[],
    )
    status, body = plan(b, ReversalIn(transaction_id=original.id, reason="churned"), original)
    assert status == 200
    assert body == ReversalOut.model_validate(body).model_dump(mode="json")
    assert body["reversed_amount"] == 400
    assert b.heads[CUSTOMER].balance == 0
    with pytest.raises(Conflict):
        plan(b, ReversalIn(transaction_id=original.id, reason="again"), original)


def test_an_adjustment_crediting_a_customer_creates_a_lot() -> None:
    b = Book.of([Head(CUSTOMER, 0, 0, None), Head("system", None, 0, None)], [], [], NOW)
    body = AdjustmentIn(
        postings=[
            {"ledger_account_id": "adjustments:USD", "unit": "USD", "amount": 250},
            {"ledger_account_id": CUSTOMER, "unit": "USD", "amount": -250},
        ],
        reason="goodwill",
        expires_at=NOW + timedelta(days=10),
    )
    status, body_out = plan(b, body)
    assert status == 201
    assert body_out == TransactionOut.model_validate(body_out).model_dump(mode="json")
    assert b.heads[CUSTOMER].balance == 250
    assert len(b.new_lots) == 1


def test_an_expiry_sweeps_only_lots_past_their_date() -> None:
    past, future = lot(300, -1), lot(200, 3)
    b = book(past, future, balance=500)
    status, body = plan_write(b, WriteOp(Expiry(CUSTOMER, "USD", ["winback"], NOW)), {})
    assert (status, body) == (200, {"lots": 1, "amounts": {"USD": 300}})
    assert (past.remaining, future.remaining, b.heads[CUSTOMER].balance) == (0, 200, 200)


def test_lots_and_times_are_written_as_the_models_write_them() -> None:
    stored = lot(0, 3)
    assert lot_json(stored, NOW) == LotOut.model_validate(lot_json(stored, NOW)).model_dump(
        mode="json"
    )
    assert lot_json(stored, NOW)["status"] == "used"
    assert iso(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"


def test_a_balance_past_its_bound_is_refused_at_the_field_that_would_pass_it() -> None:
    near = MAX_BALANCE_MINOR - 10
    b = book(lot(near, 30, amount=near), balance=near)
    with pytest.raises(Unprocessable) as refused:
        plan(b, grant_body(11))
    assert refused.value.errors[0].pointer == "/amount"
    assert "past the maximum" in refused.value.errors[0].detail
    assert (b.entries, b.heads[CUSTOMER].balance) == ([], near)
    assert plan(b, grant_body(10))[0] == 201  # up to the bound is fine

    credit = AdjustmentIn(
        postings=[
            {"ledger_account_id": "adjustments:USD", "unit": "USD", "amount": 1},
            {"ledger_account_id": CUSTOMER, "unit": "USD", "amount": -1},
        ],
        reason="goodwill",
        expires_at=NOW + timedelta(days=10),
    )
    with pytest.raises(Unprocessable) as adjusted:
        plan(b, credit)
    assert adjusted.value.errors[0].pointer == "/postings"


def test_reversing_a_redemption_past_the_balance_bound_is_not_reversible() -> None:
    taken_from = lot(MAX_BALANCE_MINOR - 5, 30, amount=MAX_BALANCE_MINOR)
    b = book(taken_from, balance=MAX_BALANCE_MINOR - 5)
    b.heads[CUSTOMER].balance = MAX_BALANCE_MINOR  # granted back up to the bound since
    redemption = TxRow(
        id=uuid.uuid4(),
        kind="redemption",
        customer_account_id="acme",
        offer_id=None,
        program_id=None,
        invoice_id="i",
        tier=None,
        postings=[(CUSTOMER, "USD", 5), ("invoices:applied:USD", "USD", -5)],
        movements=[(taken_from.id, -5)],
    )
    with pytest.raises(NotReversible) as refused:
        plan(b, ReversalIn(transaction_id=redemption.id, reason="void"), redemption)
    assert "past the maximum" in str(refused.value.detail)


def test_amounts_are_bounded_in_every_write_schema() -> None:
    too_big = MAX_AMOUNT_MINOR + 1
    with pytest.raises(ValidationError, match="amount"):
        grant_body(too_big)
    with pytest.raises(ValidationError, match="amount"):
        RedemptionIn(account_id="acme", unit="USD", amount=too_big, invoice_id="i")
    for amount in (too_big, -too_big):
        with pytest.raises(ValidationError, match=r"postings\.0\.amount"):
            AdjustmentIn(
                postings=[
                    {"ledger_account_id": "adjustments:USD", "unit": "USD", "amount": amount},
                    {"ledger_account_id": CUSTOMER, "unit": "USD", "amount": -amount},
                ],
                reason="huge",
            )


def test_named_parameters_become_asyncpgs_numbered_ones() -> None:
    statement = Named("SELECT :a::text[], :b::int WHERE x = ANY(:a::text[]) AND y::int = :b")
    assert statement.sql == "SELECT $1::text[], $2::int WHERE x = ANY($1::text[]) AND y::int = $2"
    assert statement.args({"b": 2, "a": ["x"]}) == [["x"], 2]
    with pytest.raises(ValueError, match="c"):
        statement.args({"a": [], "b": 1, "c": 3})
    with pytest.raises(ValueError, match="b"):
        statement.args({"a": []})
