"""RFM quintiles: recency, frequency and monetary, each 1-5 across active accounts (5 best).

- Recency: days since the account's last key action. FEWER days is better. An account with no
  key action ever has no recency (None) and is always quintile 1, the worst, whatever the
  population: "never" is worse than any number of days.
- Frequency: key actions in the last 30 days. More is better.
- Monetary: MRR in minor units. More is better.

Cut points. Each dimension's values over the population are sorted ascending and four cut
points taken at the 20th, 40th, 60th and 80th percentile by nearest rank: cut k is the value at
1-based position ceil(k x n / 5). A cut is the LAST value of its bucket (an inclusive upper
bound), so a value equal to a cut goes with the smaller values:

- frequency / monetary: value <= cut1 -> 1, <= cut2 -> 2, <= cut3 -> 3, <= cut4 -> 4, else 5.
  Ties at a cut go to the lower (worse) quintile; a population where most accounts have 0 key
  actions puts every 0 in quintile 1, and nobody with 0 is "top frequency".
- recency (days): days <= cut1 -> 5, <= cut2 -> 4, <= cut3 -> 3, <= cut4 -> 2, else 1.
  Ties at a cut go to the better quintile (fewer days), the bucket the cut closes.

Accounts with no recency are left out of the recency cuts (they are placed at 1 anyway). A
dimension with no values in the population has no cuts, and places every value at 3 (the
middle): with no one to compare against, no account is better or worse than the others.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Cuts = tuple[float, float, float, float]
MIDDLE = 3


@dataclass(frozen=True)
class RfmBreakpoints:
    """Four ascending cut points per dimension (None: no population, everyone at 3)."""

    recency_days: Cuts | None
    frequency: Cuts | None
    monetary: Cuts | None


def _cuts(values: Sequence[float]) -> Cuts | None:
    if not values:
        return None
    ordered = sorted(values)
    n = len(ordered)
    at = [ordered[math.ceil(k * n / 5) - 1] for k in (1, 2, 3, 4)]
    return (float(at[0]), float(at[1]), float(at[2]), float(at[3]))


def breakpoints(population: Iterable[tuple[int | None, int, int]]) -> RfmBreakpoints:
    """Quintile cut points from the (recency_days | None, frequency, monetary) of every active
    account (``snapshot.rfm_inputs`` gives one account's triple)."""
    recencies: list[float] = []
    frequencies: list[float] = []
    monetaries: list[float] = []
    for recency, frequency, monetary in population:
        if recency is not None:
            recencies.append(recency)
        frequencies.append(frequency)
        monetaries.append(monetary)
    return RfmBreakpoints(_cuts(recencies), _cuts(frequencies), _cuts(monetaries))


def _above(value: float, cuts: Cuts) -> int:
    return sum(1 for cut in cuts if value > cut)


def quintiles(
    recency_days: int | None, frequency: int, monetary: int, breaks: RfmBreakpoints
) -> tuple[int, int, int]:
    """The (r, f, m) quintiles of one account, each 1..5, 5 best."""
    if recency_days is None:
        r = 1
    elif breaks.recency_days is None:
        r = MIDDLE
    else:
        r = 5 - _above(recency_days, breaks.recency_days)
    f = MIDDLE if breaks.frequency is None else 1 + _above(frequency, breaks.frequency)
    m = MIDDLE if breaks.monetary is None else 1 + _above(monetary, breaks.monetary)
    return r, f, m
