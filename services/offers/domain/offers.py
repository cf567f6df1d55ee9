"""An offer's life: its states, the moves between them, and who may approve it.

``pending_approval`` → ``approved`` → ``issued`` (credit granted in the ledger; a perk or a
discount is issued as soon as it is approved) → ``redeemed`` | ``expired``; or ``rejected``
(before issue), ``revoked`` (at any point before it is spent or gone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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

    Someone who may give the finance approval fills the finance slot while it is open (it is
    the scarcer one), else the approver slot; one principal never fills two slots.
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
        if approver or finance:
            return "approver"
        raise ApprovalRefused(f"approving takes the {APPROVE_SCOPE} scope")
    if "finance" in open_slots:
        raise ApprovalRefused(f"the approval still missing is finance's ({APPROVE_FINANCE_SCOPE})")
    raise ApprovalRefused("this offer needs no more approvals")
