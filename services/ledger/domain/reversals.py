"""What reversing a transaction means, and when it is refused."""

from __future__ import annotations

from dataclasses import dataclass

REVERSIBLE = frozenset({"grant", "redemption", "adjustment"})


class NotReversible(ValueError):
    """The transaction cannot be reversed (again); the reason says why."""


@dataclass(frozen=True)
class PostingLine:
    """One posting: an account, a unit, a signed amount (credit to a liability is negative)."""

    account: str
    unit: str
    amount: int


def check_reversible(kind: str, already_reversed: bool) -> None:
    """Refuse reversing a reversal, an expiry, or anything twice."""
    if kind == "reversal":
        raise NotReversible("a reversal cannot itself be reversed")
    if kind not in REVERSIBLE:
        raise NotReversible(f"a {kind} cannot be reversed")
    if already_reversed:
        raise NotReversible("the transaction was already reversed")


def opposite(postings: list[PostingLine], fraction: tuple[int, int] = (1, 1)) -> list[PostingLine]:
    """The postings that undo ``postings`` (scaled by an exact fraction for partial reversals)."""
    num, den = fraction
    lines = []
    for p in postings:
        scaled = -p.amount * num
        if scaled % den:
            raise ValueError("a partial reversal must scale every posting exactly")
        lines.append(PostingLine(p.account, p.unit, scaled // den))
    return lines


def grant_reversal(granted: int, remaining: int) -> int:
    """A grant is reversible only for what is left unredeemed in its lot."""
    if remaining <= 0:
        raise NotReversible("nothing of this grant is left unredeemed")
    return min(granted, remaining)


def balanced(postings: list[PostingLine]) -> bool:
    """Whether postings sum to zero in every unit."""
    sums: dict[str, int] = {}
    for p in postings:
        sums[p.unit] = sums.get(p.unit, 0) + p.amount
    return all(v == 0 for v in sums.values())
