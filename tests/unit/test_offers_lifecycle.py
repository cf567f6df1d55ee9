"""An offer's states and who may approve it: the pure rules."""

from __future__ import annotations

from typing import get_args

import pytest

from services.offers.domain.offers import (
    APPROVE_FINANCE_SCOPE,
    APPROVE_SCOPE,
    ApprovalNeeds,
    ApprovalRefused,
    ApprovalSlot,
    CreditMovement,
    IllegalMove,
    OfferState,
    check_may_reject,
    check_move,
    releasable,
    revoke_asks_ledger,
    slot_for,
    state_after_credit_move,
)

STATES: tuple[OfferState, ...] = get_args(OfferState)
ALLOWED = {
    ("pending_approval", "approved"),
    ("pending_approval", "rejected"),
    ("pending_approval", "revoked"),
    ("approved", "issued"),
    ("approved", "rejected"),
    ("approved", "revoked"),
    ("issued", "redeemed"),
    ("issued", "expired"),
    ("issued", "revoked"),
    ("redeemed", "redeemed"),
    ("redeemed", "revoked"),
}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("to", STATES)
def test_check_move_allows_exactly_the_lifecycles_moves(state: OfferState, to: OfferState) -> None:
    if (state, to) in ALLOWED:
        check_move(state, to)
    else:
        with pytest.raises(IllegalMove, match=f"{state} cannot become {to}"):
            check_move(state, to)


def needs(
    required: int = 1, finance: bool = False, filled: dict[ApprovalSlot, str] | None = None
) -> ApprovalNeeds:
    return ApprovalNeeds(
        approvals_required=required,
        finance_required=finance,
        filled=filled or {},
        owner="owner",
        proposed_by="proposer",
    )


APPROVER = frozenset({APPROVE_SCOPE})
FINANCE = frozenset({APPROVE_FINANCE_SCOPE})
ADMIN = frozenset({"admin"})


@pytest.mark.parametrize("scopes", [APPROVER, FINANCE, ADMIN])
def test_the_owner_and_the_proposer_never_approve(scopes: frozenset[str]) -> None:
    with pytest.raises(ApprovalRefused, match="owns the program"):
        slot_for(needs(), "owner", scopes)
    with pytest.raises(ApprovalRefused, match="proposed this offer"):
        slot_for(needs(), "proposer", scopes)


def test_one_approval_required_is_the_approver_slot_and_takes_the_approve_scope() -> None:
    assert slot_for(needs(), "ann", APPROVER) == "approver"
    assert slot_for(needs(), "root", ADMIN) == "approver"
    with pytest.raises(ApprovalRefused, match=APPROVE_SCOPE):
        slot_for(needs(), "fin", FINANCE)


def test_two_required_finance_fills_finance_first_and_an_approver_the_other() -> None:
    two = needs(2, finance=True)
    assert two.slots_required() == ("approver", "finance")
    assert slot_for(two, "fin", FINANCE) == "finance"
    assert slot_for(two, "root", ADMIN) == "finance"
    assert slot_for(two, "ann", APPROVER) == "approver"
    finance_filled = needs(2, finance=True, filled={"finance": "fin"})
    # Two people from finance are not an approver and finance.
    with pytest.raises(ApprovalRefused, match=APPROVE_SCOPE):
        slot_for(finance_filled, "fin2", FINANCE)
    assert slot_for(finance_filled, "ann", APPROVER) == "approver"


def test_the_missing_finance_approval_takes_the_finance_scope() -> None:
    approver_filled = needs(2, finance=True, filled={"approver": "ann"})
    assert approver_filled.open_slots() == ("finance",)
    with pytest.raises(ApprovalRefused, match=APPROVE_FINANCE_SCOPE):
        slot_for(approver_filled, "bob", APPROVER)
    assert slot_for(approver_filled, "fin", FINANCE) == "finance"


def test_one_principal_never_gives_both_approvals() -> None:
    with pytest.raises(ApprovalRefused, match="already approved"):
        slot_for(needs(2, finance=True, filled={"finance": "fin"}), "fin", FINANCE)
    with pytest.raises(ApprovalRefused, match="already approved"):
        slot_for(needs(2, finance=True, filled={"approver": "root"}), "root", ADMIN)


def test_no_approve_scope_is_refused_with_the_scope_it_takes() -> None:
    with pytest.raises(ApprovalRefused, match=APPROVE_SCOPE):
        slot_for(needs(), "reader", frozenset({"offers:read", "offers:write"}))


def test_an_offer_with_its_slots_filled_needs_no_more() -> None:
    with pytest.raises(ApprovalRefused, match="no more approvals"):
        slot_for(needs(filled={"approver": "ann"}), "bob", APPROVER)
    assert needs(0).slots_required() == ()


def test_rejecting_follows_the_approving_rule() -> None:
    two = needs(2, finance=True, filled={"approver": "ann"})
    check_may_reject(two, "fin", FINANCE)  # the finance slot is open
    check_may_reject(two, "ann", APPROVER)  # who approved may still say no
    check_may_reject(needs(), "root", ADMIN)
    for principal, why in (("owner", "owns the program"), ("proposer", "proposed this offer")):
        with pytest.raises(ApprovalRefused, match=why):
            check_may_reject(needs(), principal, APPROVER)
    # No finance slot to answer for: finance alone cannot reject what it could not approve.
    with pytest.raises(ApprovalRefused, match="takes the offers:approve scope"):
        check_may_reject(needs(), "fin", FINANCE)
    with pytest.raises(ApprovalRefused, match="takes the offers:approve scope"):
        check_may_reject(needs(), "writer", frozenset({"offers:write"}))


@pytest.mark.parametrize("state", STATES)
def test_only_a_credit_approved_or_granted_is_revoked_through_the_ledger(
    state: OfferState,
) -> None:
    granted_or_on_its_way = state in ("approved", "issued", "redeemed")
    assert revoke_asks_ledger(state, "credit") is granted_or_on_its_way
    assert revoke_asks_ledger(state, "perk") is False
    assert revoke_asks_ledger(state, "discount") is False


@pytest.mark.parametrize(
    ("state", "movement", "redeemed", "after"),
    [
        ("approved", "grant", 0, "issued"),
        ("revoked", "grant", 0, "revoked"),  # granted after a revoke asked for its reversal
        ("issued", "redemption", 10, "redeemed"),
        ("redeemed", "redemption", 20, "redeemed"),
        ("redeemed", "redemption_reversal", 10, "redeemed"),
        ("issued", "expiry", 0, "expired"),
        ("redeemed", "expiry", 10, "redeemed"),  # partly redeemed: stays redeemed
        ("issued", "reversal", 0, "revoked"),  # reversed in the ledger directly
        ("redeemed", "reversal", 10, "revoked"),
        ("revoked", "reversal", 0, "revoked"),  # the reversal a revoke asked for
        ("expired", "reversal", 0, "expired"),
    ],
)
def test_the_ledgers_movements_move_the_offer_where_its_state_allows(
    state: OfferState, movement: CreditMovement, redeemed: int, after: OfferState
) -> None:
    assert state_after_credit_move(state, movement, redeemed) == after


def test_a_movement_never_takes_an_offer_out_of_an_end_state() -> None:
    for state in ("expired", "rejected", "revoked"):
        for movement in get_args(CreditMovement):
            assert state_after_credit_move(state, movement, 0) == state


def test_releases_never_exceed_what_is_still_reserved() -> None:
    assert releasable(5000, 0, 3000) == 3000
    assert releasable(5000, 3000, 3000) == 2000
    assert releasable(5000, 5000, 10) == 0
    assert releasable(5000, 0, 0) == 0
