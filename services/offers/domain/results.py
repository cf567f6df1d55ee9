"""A program's results: treated against held-out accounts at renewal, in pure code.

Treated are the accounts an ``offered`` decision of the program named (intention to treat:
whatever became of the offer), held out those a ``holdout`` decision named; an account named
by both belongs to the group of its first decision. Each account's outcome is its first final
renewal outcome in the window after that decision. The renewal rate is (renewed + expanded +
contracted) over the accounts with a final outcome, and the difference of the two rates gets
Newcombe's hybrid score interval (his method 10: from each rate's Wilson score interval),
which keeps its coverage for small groups and rates near 0 or 1 where the Wald interval does
not. Net revenue retention is the ARR at the window's end over the ARR at its start, of the
group's accounts present (and not cancelled) at the start, in the program's currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from math import sqrt
from typing import Literal

from shared.contracts import MrrAt, Outcome, OutcomeKind

Group = Literal["treated", "holdout"]
DecisionKind = Literal["offered", "holdout"]
GROUPS: tuple[Group, Group] = ("treated", "holdout")
METHOD = "Newcombe hybrid score (Wilson)"
CONFIDENCE = 0.95
Z_95 = 1.959963984540054  # the standard normal's 97.5th percentile
# Below these the normal approximations behind any such interval are poor (the usual rule:
# at least 5 successes and 5 failures); under 30 outcomes the interval is too wide to act on.
MIN_OUTCOMES = 30
MIN_EACH_WAY = 5
_RENEWING: frozenset[OutcomeKind] = frozenset({"renewed", "expanded", "contracted"})
_DECISION_GROUP: dict[DecisionKind, Group] = {"offered": "treated", "holdout": "holdout"}


@dataclass(frozen=True)
class Interval:
    """A confidence interval's bounds."""

    lower: float
    upper: float


def wilson(successes: int, trials: int, z: float = Z_95) -> Interval:
    """The Wilson score interval of a proportion (0 trials: no interval, so a ValueError).

    (2np + z² ± z·√(z² + 4np(1 - p))) / (2(n + z²)); at 0/n the lower bound is exactly 0
    and at n/n the upper exactly 1, where the Wald interval collapses to a point.
    """
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials > 0: {successes}/{trials}")
    p = successes / trials
    centre = 2 * trials * p + z * z
    spread = z * sqrt(z * z + 4 * trials * p * (1 - p))
    denominator = 2 * (trials + z * z)
    # At the ends the formula's bound is 0 or 1 exactly, but √(z²) rounds: say so exactly.
    lower = 0.0 if successes == 0 else (centre - spread) / denominator
    upper = 1.0 if successes == trials else (centre + spread) / denominator
    return Interval(lower, upper)


def newcombe_difference(
    successes_1: int, trials_1: int, successes_2: int, trials_2: int, z: float = Z_95
) -> tuple[float, Interval]:
    """p1 - p2 and its hybrid score interval (Newcombe 1998, method 10).

    With (l1, u1) and (l2, u2) the Wilson intervals of p1 and p2:
    lower = d - √((p1 - l1)² + (u2 - p2)²), upper = d + √((u1 - p1)² + (p2 - l2)²).

    Newcombe's worked example, 56/70 against 48/80: d = 0.2000, 95% CI 0.0524 to 0.3339.
    By hand, 9/10 against 3/10 with z = 1.96 (z^2 = 3.8416, 2(n + z^2) = 27.6832): the
    Wilson interval of 9/10 is (18 + 3.8416 +- 1.96 sqrt(3.8416 + 3.6)) / 27.6832 =
    (21.8416 +- 5.3467) / 27.6832 = 0.5958 to 0.9821, and of 3/10
    (6 + 3.8416 +- 1.96 sqrt(3.8416 + 8.4)) / 27.6832 = (9.8416 +- 6.8576) / 27.6832 =
    0.1078 to 0.6032; d = 0.6, so lower = 0.6 - sqrt(0.3042^2 + 0.3032^2) = 0.6 - 0.4295 =
    0.1705 and upper = 0.6 + sqrt(0.0821^2 + 0.1922^2) = 0.6 + 0.2090 = 0.8090.
    """
    p1, p2 = successes_1 / trials_1, successes_2 / trials_2
    first, second = wilson(successes_1, trials_1, z), wilson(successes_2, trials_2, z)
    difference = p1 - p2
    lower = difference - sqrt((p1 - first.lower) ** 2 + (second.upper - p2) ** 2)
    upper = difference + sqrt((first.upper - p1) ** 2 + (p2 - second.lower) ** 2)
    return difference, Interval(lower, upper)


@dataclass(frozen=True)
class FirstDecision:
    """The first decision of one kind (``offered`` or ``holdout``) a program made on an
    account."""

    account_id: str
    outcome: DecisionKind
    decided_at: datetime


@dataclass(frozen=True)
class Member:
    """An account in a group, since its first decision; ``in_both`` when a later decision of
    the other kind named it too."""

    account_id: str
    group: Group
    decided_at: datetime
    in_both: bool


def assign_groups(decisions: Iterable[FirstDecision]) -> dict[str, Member]:
    """Each account in the group of its first decision (ties: treated, the offer was made)."""
    by_account: dict[str, list[FirstDecision]] = {}
    for decision in decisions:
        by_account.setdefault(decision.account_id, []).append(decision)
    members = {}
    for account_id, found in by_account.items():
        first = min(found, key=lambda d: (d.decided_at, d.outcome != "offered"))
        in_both = len({d.outcome for d in found}) > 1
        members[account_id] = Member(
            account_id, _DECISION_GROUP[first.outcome], first.decided_at, in_both
        )
    return members


def renewal_instant(outcome: Outcome) -> datetime:
    """When a renewal happens: 00:00 UTC of its date (ingest's outcome rule)."""
    return datetime.combine(outcome.renewal_date, time(), tzinfo=UTC)


def first_outcomes(
    members: Mapping[str, Member], outcomes: Iterable[Outcome], start: datetime, end: datetime
) -> tuple[dict[str, Outcome], set[str]]:
    """Per member, its first final outcome renewing in [start, end) after its decision; and
    the members whose first such renewal is not final yet (its grace has not ended)."""
    first: dict[str, Outcome] = {}
    for outcome in sorted(outcomes, key=lambda o: (o.account_id, o.renewal_date)):
        member = members.get(outcome.account_id)
        at = renewal_instant(outcome)
        if member is None or outcome.account_id in first or not start <= at < end:
            continue
        if at > member.decided_at:
            first[outcome.account_id] = outcome
    pending = {a for a, o in first.items() if not o.final}
    return {a: o for a, o in first.items() if o.final}, pending


@dataclass
class Retention:
    """Net revenue retention of a group, in one currency."""

    currency: str
    accounts: int = 0
    arr_start_minor: int = 0
    arr_end_minor: int = 0
    other_currency: int = 0  # present at the start in another currency, or changed currency

    @property
    def nrr(self) -> float | None:
        """ARR at the end over ARR at the start (none without ARR at the start)."""
        return self.arr_end_minor / self.arr_start_minor if self.arr_start_minor else None


def retention(
    account_ids: Iterable[str],
    facts: Mapping[str, Sequence[MrrAt | None]],
    currency: str,
) -> Retention:
    """NRR of these accounts from their facts at the window's start and end (``facts[a]`` is
    ``[start, end]``). An account counts if present and not cancelled at the start; its ARR is
    12 x MRR, and 0 at the end once cancelled. Only ``currency`` is summed: an account in
    another currency at the start, or that changed currency by the end, is counted apart in
    ``other_currency`` (amounts in two currencies are not added up)."""
    result = Retention(currency)
    for account_id in account_ids:
        start, end = facts.get(account_id) or (None, None)
        if start is None or start.status == "cancelled":
            continue
        if start.currency != currency or (
            end is not None and end.status != "cancelled" and end.currency != currency
        ):
            result.other_currency += 1
            continue
        result.accounts += 1
        result.arr_start_minor += 12 * start.mrr_minor
        if end is not None and end.status != "cancelled":
            result.arr_end_minor += 12 * end.mrr_minor
    return result


@dataclass
class GroupResult:
    """One group's size, outcomes, renewal rate (with its Wilson interval) and NRR."""

    accounts: int = 0
    in_both: int = 0
    pending: int = 0
    outcomes: dict[OutcomeKind, int] = field(
        default_factory=lambda: {"renewed": 0, "expanded": 0, "contracted": 0, "churned": 0}
    )

    @property
    def final_outcomes(self) -> int:
        """Accounts with a final outcome in the window."""
        return sum(self.outcomes.values())

    @property
    def renewing(self) -> int:
        """Accounts that renewed (at the same, a higher or a lower MRR)."""
        return sum(n for kind, n in self.outcomes.items() if kind in _RENEWING)

    @property
    def no_outcome(self) -> int:
        """Accounts with no renewal in the window after their decision (yet)."""
        return self.accounts - self.final_outcomes - self.pending

    @property
    def renewal_rate(self) -> float | None:
        """Renewing over final outcomes (none without outcomes)."""
        return self.renewing / self.final_outcomes if self.final_outcomes else None

    @property
    def enough_data(self) -> bool:
        """Whether the group has outcomes enough for its interval to mean something: at
        least ``MIN_OUTCOMES`` final outcomes, and ``MIN_EACH_WAY`` renewing and churned."""
        n = self.final_outcomes
        return n >= MIN_OUTCOMES and min(self.renewing, n - self.renewing) >= MIN_EACH_WAY

    @property
    def rate_interval(self) -> Interval | None:
        """The rate's Wilson interval (none without outcomes)."""
        return wilson(self.renewing, self.final_outcomes) if self.final_outcomes else None


@dataclass
class Comparison:
    """Both groups and the difference of their renewal rates (treated - holdout)."""

    groups: dict[Group, GroupResult]
    difference: float | None
    interval: Interval | None
    warnings: list[str]


def compare(
    members: Mapping[str, Member], outcomes: Mapping[str, Outcome], pending: set[str]
) -> Comparison:
    """Count each group's outcomes and compare their renewal rates."""
    groups: dict[Group, GroupResult] = {g: GroupResult() for g in GROUPS}
    for member in members.values():
        result = groups[member.group]
        result.accounts += 1
        result.in_both += member.in_both
        if member.account_id in outcomes:
            result.outcomes[outcomes[member.account_id].outcome] += 1
        elif member.account_id in pending:
            result.pending += 1
    treated, holdout = groups["treated"], groups["holdout"]
    warnings = [w for g in GROUPS if (w := _small(g, groups[g]))]
    if treated.final_outcomes and holdout.final_outcomes:
        difference, interval = newcombe_difference(
            treated.renewing, treated.final_outcomes, holdout.renewing, holdout.final_outcomes
        )
        return Comparison(groups, difference, interval, warnings)
    return Comparison(groups, None, None, warnings)


def _small(name: Group, group: GroupResult) -> str | None:
    n, renewing = group.final_outcomes, group.renewing
    if n == 0:
        return f"The {name} group has no final renewal outcome in the window: no rate, no interval."
    if not group.enough_data:
        return (
            f"The {name} group has {n} final outcomes ({renewing} renewing, {n - renewing}"
            f" churned): under {MIN_OUTCOMES}, or under {MIN_EACH_WAY} either way, the interval"
            " means little."
        )
    return None
