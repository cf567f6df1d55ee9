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
    """The postings that undo ``postings``, or ``num/den`` of them for a partial reversal.

    A partial reversal nets the lines per account, then scales each by the fraction. A line
    the fraction scales to a whole number of minor units keeps it exactly (the customer's
    line always does: it is scaled to what is left of its lot); where lines scale to parts of
    a minor unit, each unit is rounded back to a sum of zero by giving the leftover minor
    units to the lines with the largest fractions (ties in line order). Lines that round to
    nothing are left out.
    """
    num, den = fraction
    if num == den:
        return [PostingLine(p.account, p.unit, -p.amount) for p in postings]
    net: dict[tuple[str, str], int] = {}
    for p in postings:
        net[(p.account, p.unit)] = net.get((p.account, p.unit), 0) + p.amount
    scaled = {where: divmod(-amount * num, den) for where, amount in net.items()}
    for unit in {u for _, u in net}:
        lines = [where for where in net if where[1] == unit]
        # The floors sum to minus the leftover minor units (the exact values sum to zero).
        leftover = -sum(scaled[where][0] for where in lines)
        by_fraction = sorted(lines, key=lambda where: -scaled[where][1])
        for where in by_fraction[:leftover]:
            scaled[where] = (scaled[where][0] + 1, 0)
    return [
        PostingLine(account, unit, whole)
        for (account, unit), (whole, _) in scaled.items()
        if whole != 0
    ]


def grant_reversal(granted: int, remaining: int) -> int:
    """A grant (or a credit adjustment) is reversible only for what is left in its lot."""
    if remaining <= 0:
        raise NotReversible(
            "nothing of the credit it granted is left (it was redeemed, expired or taken back)"
        )
    return min(granted, remaining)


def balanced(postings: list[PostingLine]) -> bool:
    """Whether postings sum to zero in every unit."""
    sums: dict[str, int] = {}
    for p in postings:
        sums[p.unit] = sums.get(p.unit, 0) + p.amount
    return all(v == 0 for v in sums.values())
