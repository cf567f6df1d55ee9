"""An offer's life: its states, the moves between them, and who may approve it.

``pending_approval`` → ``approved`` → ``issued`` (credit granted in the ledger; a perk or a
discount is issued as soon as it is approved) → ``redeemed`` | ``expired``; or ``rejected``
(before issue), ``revoked`` (at any point before it is spent or gone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.contracts import CreditMovementKind

OfferState = Literal[
    "pending_approval", "approved", "issued", "redeemed", "expired", "rejected", "revoked"
]
ApprovalSlot = Literal["approver", "finance"]
APPROVE_SCOPE = "offers:approve"
APPROVE_FINANCE_SCOPE = "offers:approve_finance"

# Budget is committed while an offer is in one of these states.
COMMITTING: frozenset[OfferState] = frozenset(
    {"pending_approval", "approved", "issued", "redeemed"}
)
_MOVES: dict[OfferState, frozenset[OfferState]] = {
    "pending_approval": frozenset({"approved", "rejected", "revoked"}),
    "approved": frozenset({"issued", "rejected", "revoked"}),
    "issued": frozenset({"redeemed", "expired", "revoked"}),
    "redeemed": frozenset({"redeemed", "revoked"}),
    "expired": frozenset(),
    "rejected": frozenset(),
    "revoked": frozenset(),
}


class IllegalMove(ValueError):
    """The offer's state does not allow what was asked."""


def check_move(state: OfferState, to: OfferState) -> None:
    """Raise ``IllegalMove`` unless an offer in ``state`` may move to ``to``."""
    if to not in _MOVES[state]:
        raise IllegalMove(f"an offer that is {state} cannot become {to}")


class ApprovalRefused(ValueError):
    """This principal may not approve (or reject) this offer; the message says why."""


@dataclass(frozen=True)
class ApprovalNeeds:
    """What an offer needs and has: the slots required and the principals that filled some."""

    approvals_required: int
    finance_required: bool
    filled: dict[ApprovalSlot, str]
    owner: str
    proposed_by: str

    def slots_required(self) -> tuple[ApprovalSlot, ...]:
        """The slots an offer's approvals fill, in order."""
        if self.approvals_required == 0:
            return ()
        if self.finance_required:
            return ("approver", "finance")
        return ("approver",)

    def open_slots(self) -> tuple[ApprovalSlot, ...]:
        """Slots still waiting for an approval."""
        return tuple(s for s in self.slots_required() if s not in self.filled)


def check_may_decide(needs: ApprovalNeeds, principal: str) -> None:
    """Refuse the program's owner and the offer's proposer: neither approves nor rejects."""
    if principal == needs.owner:
        raise ApprovalRefused(f"{principal} owns the program, and an owner cannot approve")
    if principal == needs.proposed_by:
        raise ApprovalRefused(f"{principal} proposed this offer, and cannot also approve it")


def slot_for(needs: ApprovalNeeds, principal: str, scopes: frozenset[str]) -> ApprovalSlot:
    """The slot ``principal`` fills by approving now, or ``ApprovalRefused`` saying why not.

    The approver slot takes ``offers:approve`` and the finance slot ``offers:approve_finance``
    (two people from finance are not "an approver and finance"). Someone holding both fills
    the finance slot while it is open (it is the scarcer one), else the approver slot; one
    principal never fills two slots.
    """
    check_may_decide(needs, principal)
    if principal in needs.filled.values():
        raise ApprovalRefused(f"{principal} has already approved this offer")
    is_admin = "admin" in scopes
    finance = is_admin or APPROVE_FINANCE_SCOPE in scopes
    approver = is_admin or APPROVE_SCOPE in scopes
    open_slots = needs.open_slots()
    if finance and "finance" in open_slots:
        return "finance"
    if "approver" in open_slots:
        if approver:
            return "approver"
        raise ApprovalRefused(f"the approval still missing takes the {APPROVE_SCOPE} scope")
    if "finance" in open_slots:
        raise ApprovalRefused(f"the approval still missing is finance's ({APPROVE_FINANCE_SCOPE})")
    raise ApprovalRefused("this offer needs no more approvals")


def check_may_reject(needs: ApprovalNeeds, principal: str, scopes: frozenset[str]) -> None:
    """Refuse whoever could not approve it now: a rejection is the other answer to the same
    question (the owner, the proposer, and whoever holds no scope for a slot still open are
    refused, with the same reasons). Someone who gave an approval may still reject it while
    the offer awaits the rest."""
    if principal in needs.filled.values():
        check_may_decide(needs, principal)
        return
    slot_for(needs, principal, scopes)


RewardKind = Literal["credit", "discount", "perk"]


def revoke_asks_ledger(state: OfferState, reward_kind: RewardKind) -> bool:
    """Whether revoking must ask the ledger to reverse the grant (a credit approved, whose
    grant may be on its way, or granted): its budget is then released when the ledger says
    what it reversed. Otherwise nothing was granted and the budget is released at once."""
    return reward_kind == "credit" and state in ("approved", "issued", "redeemed")


# What the ledger says moved an offer's lot (the contract's kinds, named once there).
CreditMovement = CreditMovementKind


def state_after_credit_move(
    state: OfferState, movement: CreditMovement, redeemed_minor: int
) -> OfferState:
    """The offer's state once the ledger reports a movement of its credit (``redeemed_minor``
    is what stays redeemed after it).

    A grant issues an approved offer; a redemption redeems it; an expiry expires it when
    nothing was redeemed (a partly redeemed offer stays redeemed); a reversal revokes it. A
    movement the state does not allow (a grant arriving for an offer revoked meanwhile)
    leaves the state as it is: the movement is recorded all the same.
    """
    target: OfferState
    if movement == "grant":
        target = "issued"
    elif movement == "redemption":
        target = "redeemed"
    elif movement == "expiry":
        target = "expired" if redeemed_minor == 0 else "redeemed"
    elif movement == "reversal":
        target = "revoked"
    else:
        return state
    return target if target in _MOVES[state] else state


def releasable(value_minor: int, released_minor: int, amount: int) -> int:
    """How much of ``amount`` an offer can still give back to its budgets: never more than
    is still reserved, so a repeated or late release never takes a budget below zero."""
    return max(0, min(amount, value_minor - released_minor))
