"""The ledger's pure rules: lot selection, reversals, the hash chain."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ledger.domain.book import Book, Head
from services.ledger.domain.hashing import GENESIS, ChainedContent, canonical, chain_hash
from services.ledger.domain.liability import age_bucket
from services.ledger.domain.lots import Allocation, Lot, allocate, lot_status, total
from services.ledger.domain.reversals import (
    NotReversible,
    PostingLine,
    balanced,
    check_reversible,
    grant_reversal,
    opposite,
)
from services.ledger.domain.units import parse_account, valid_unit

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def lot(remaining: int, expires_in_days: int, granted_days_ago: int = 10) -> Lot:
    return Lot(
        uuid.uuid4(),
        remaining,
        NOW + timedelta(days=expires_in_days),
        NOW - timedelta(days=granted_days_ago),
    )


def test_redemption_takes_from_lots_that_expire_first_then_oldest() -> None:
    late, soon, soon_newer, spent, expired = (
        lot(500, 90),
        lot(100, 10, 20),
        lot(100, 10, 5),
        lot(0, 1),
        lot(900, -1),
    )
    taken = allocate([late, soon_newer, spent, expired, soon], 250, NOW)
    assert taken == [
        Allocation(soon.id, 100),
        Allocation(soon_newer.id, 100),
        Allocation(late.id, 50),
    ]
    assert total(allocate([late, soon], 10_000, NOW)) == 600
    assert allocate([expired], 10, NOW) == []


@given(
    st.lists(st.tuples(st.integers(0, 1000), st.integers(-5, 60)), max_size=12),
    st.integers(0, 5000),
)
def test_allocation_never_exceeds_request_or_available(
    lots: list[tuple[int, int]], amount: int
) -> None:
    made = [lot(r, d) for r, d in lots]
    taken = allocate(made, amount, NOW)
    usable = sum(r for r, d in lots if d > 0)
    assert total(taken) == min(amount, usable)
    by_id = {m.id: m for m in made}
    assert all(0 < a.amount <= by_id[a.lot_id].remaining for a in taken)


def test_reversal_rules() -> None:
    check_reversible("grant", already_reversed=False)
    with pytest.raises(NotReversible, match="already"):
        check_reversible("grant", already_reversed=True)
    with pytest.raises(NotReversible, match="reversal"):
        check_reversible("reversal", already_reversed=False)
    with pytest.raises(NotReversible):
        check_reversible("expiry", already_reversed=False)
    assert grant_reversal(granted=1000, remaining=400) == 400
    with pytest.raises(NotReversible):
        grant_reversal(granted=1000, remaining=0)


def test_opposite_postings_balance_and_scale() -> None:
    lines = [PostingLine("expense", "USD", 1000), PostingLine("customer", "USD", -1000)]
    assert opposite(lines) == [
        PostingLine("expense", "USD", -1000),
        PostingLine("customer", "USD", 1000),
    ]
    assert opposite(lines, (400, 1000)) == [
        PostingLine("expense", "USD", -400),
        PostingLine("customer", "USD", 400),
    ]
    assert balanced(opposite(lines, (400, 1000)))
    assert not balanced([PostingLine("a", "USD", 1), PostingLine("b", "EUR", -1)])
    # Half of 3 is not a whole minor unit: rounded so the unit still sums to zero.
    assert opposite([PostingLine("a", "USD", 3), PostingLine("b", "USD", -3)], (1, 2)) == [
        PostingLine("a", "USD", -1),
        PostingLine("b", "USD", 1),
    ]


def content(**changes: object) -> ChainedContent:
    base = ChainedContent(
        id="t1",
        kind="grant",
        effective_at=NOW,
        chain_key="customer:a:USD",
        chain_seq=1,
        references={"program_id": "p", "offer_id": None},
        postings=[("expense:p:USD", "USD", 100), ("customer:a:USD", "USD", -100)],
        lot_movements=[("l1", 100)],
    )
    return ChainedContent(**{**base.__dict__, **changes})


def test_hash_covers_content_and_previous_hash() -> None:
    first = chain_hash(GENESIS, content())
    assert first == chain_hash(GENESIS, content())
    assert first != chain_hash("1" * 64, content())
    assert first != chain_hash(
        GENESIS, content(postings=[("expense:p:USD", "USD", 101), ("customer:a:USD", "USD", -101)])
    )
    assert first != chain_hash(GENESIS, content(chain_seq=2))
    assert first != chain_hash(GENESIS, content(references={"program_id": "q"}))
    # Order of postings and None references do not matter; the rendering is canonical.
    reordered = content(postings=[("customer:a:USD", "USD", -100), ("expense:p:USD", "USD", 100)])
    assert canonical(reordered) == canonical(content(references={"program_id": "p"}))


@pytest.mark.parametrize(
    ("unit", "ok"),
    [
        ("USD", True),
        ("training_hours", True),
        ("usd", False),
        ("US", False),
        ("Hours", False),
        ("x", False),
    ],
)
def test_units(unit: str, ok: bool) -> None:
    assert valid_unit(unit) is ok


def test_a_book_refuses_what_would_unbalance_it_and_changes_nothing() -> None:
    head = Head("customer:a:USD", 100, 3, "f" * 64)
    book = Book.of([head], [], [], NOW)
    with pytest.raises(ValueError, match="sum to zero"):
        book.post(
            head_id=head.id, kind="adjustment", at=NOW, postings=[PostingLine(head.id, "USD", 5)]
        )
    with pytest.raises(ValueError, match="negative"):
        book.post(
            head_id=head.id,
            kind="redemption",
            at=NOW,
            postings=[
                PostingLine(head.id, "USD", 101),
                PostingLine("invoices:applied:USD", "USD", -101),
            ],
        )
    assert (head.balance, head.chain_seq, book.entries) == (100, 3, [])


def test_a_book_links_each_transaction_to_the_one_before_it() -> None:
    head = Head("customer:a:USD", 0, 0, None)
    book = Book.of([head], [], [], NOW)
    lines = [PostingLine("expense:program:p:USD", "USD", 10), PostingLine(head.id, "USD", -10)]
    first = book.post(head_id=head.id, kind="grant", at=NOW, postings=lines)
    second = book.post(head_id=head.id, kind="grant", at=NOW, postings=lines)
    assert first.fields["prev_hash"] == GENESIS
    assert second.fields["prev_hash"] == first.fields["hash"]
    assert (second.fields["chain_seq"], head.balance, head.chain_hash) == (
        2,
        20,
        second.fields["hash"],
    )


def test_a_partial_reversal_of_many_lines_scales_each_and_still_balances() -> None:
    lines = [
        PostingLine("adjustments:USD", "USD", 300),
        PostingLine("expense:program:p:USD", "USD", 100),
        PostingLine("customer:acme:USD", "USD", -250),
        PostingLine("customer:acme:USD", "USD", -150),
        PostingLine("adjustments:EUR", "EUR", 5),
        PostingLine("breakage:program:p:EUR", "EUR", -5),
    ]
    undone = opposite(lines, (250, 400))  # 250 of the 400 credited is left to take back
    assert balanced(undone)
    by_account = {(p.account, p.unit): p.amount for p in undone}
    assert by_account == {
        ("adjustments:USD", "USD"): -187,  # -187.5 and -62.5: the tie goes to the first line
        ("expense:program:p:USD", "USD"): -63,
        ("customer:acme:USD", "USD"): 250,  # netted, and exact
        ("adjustments:EUR", "EUR"): -3,  # -3.125 and 3.125: the larger fraction rounds up
        ("breakage:program:p:EUR", "EUR"): 3,
    }
    assert opposite(lines) == [PostingLine(p.account, p.unit, -p.amount) for p in lines]


def test_a_lot_is_expired_from_its_time_on_else_active_until_used() -> None:
    assert lot_status(5, NOW + timedelta(seconds=1), NOW) == "active"
    assert lot_status(0, NOW + timedelta(seconds=1), NOW) == "used"
    assert lot_status(5, NOW, NOW) == "expired"  # unswept credit is still expired
    assert lot_status(0, NOW - timedelta(days=1), NOW) == "expired"


def test_credit_is_aged_in_whole_days_since_its_grant() -> None:
    ages = {
        timedelta(0): "0-29",
        timedelta(days=29, hours=23): "0-29",
        timedelta(days=30): "30-59",
        timedelta(days=59, hours=23): "30-59",
        timedelta(days=60): "60-89",
        timedelta(days=90): "90+",
        timedelta(days=400): "90+",
    }
    assert {age: age_bucket(NOW - age, NOW) for age in ages} == ages


def test_ids_with_colons_parse_up_to_the_unit() -> None:
    assert parse_account("customer:sf:001:USD") == {
        "customer": "sf:001",
        "unit": "USD",
        "kind": "customer",
    }
    assert parse_account("expense:program:p:1:EUR") == {
        "program": "p:1",
        "unit": "EUR",
        "kind": "expense",
    }
