"""How well a scorecard's scores foretold renewals: churn by colour, and the area under the
ROC curve of the score 90 days before each renewal.

A case is one renewal that has passed: the account churned (outcome ``churned``) or stayed
(``renewed``, ``expanded`` or ``contracted``), with its score and colour on the latest day it
was scored within ``LOOKBACK_DAYS`` before the day 90 days ahead of the renewal. A renewal with
no score in that window tells nothing about the scorecard and is counted apart.

AUC is the chance that a random stayer scored higher than a random churner (ties count half):
0.5 is a coin toss, 1.0 a perfect warning; below 0.5 the score points the wrong way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from shared.contracts import Colour, OutcomeKind

LEAD_DAYS = 90
# A score older than this before the lead day is too stale to have been the warning.
LOOKBACK_DAYS = 30
# The AUC a scorecard must reach to be said to separate churners from stayers.
SEPARATES_FROM = 0.7
WEAK_FROM = 0.6


def scored_on_or_before(renewal_date: date) -> tuple[date, date]:
    """The days a renewal's score may come from: up to 90 days before it, at most 30 older."""
    last = renewal_date - timedelta(days=LEAD_DAYS)
    return last - timedelta(days=LOOKBACK_DAYS), last


@dataclass(frozen=True)
class Case:
    """One renewal that passed, and the score that came before it."""

    account_id: str
    renewal_date: date
    outcome: OutcomeKind
    score: float | None
    colour: Colour | None

    @property
    def churned(self) -> bool:
        """Whether the account left at this renewal."""
        return self.outcome == "churned"


@dataclass(frozen=True)
class ColourOutcome:
    """Renewals whose account had one colour 90 days before."""

    renewals: int
    churned: int

    @property
    def churn_rate(self) -> float | None:
        """Share churned; None when there were none."""
        return self.churned / self.renewals if self.renewals else None


@dataclass(frozen=True)
class Backtest:
    """What the cases say about the scorecard."""

    renewals: int
    unscored: int
    churned: int
    stayed: int
    by_colour: dict[str, ColourOutcome]
    auc: float | None
    verdict: str


def auc(stayer_scores: Sequence[float], churner_scores: Sequence[float]) -> float | None:
    """P(stayer's score > churner's score), ties counting half (the Mann-Whitney statistic
    over both groups' sizes); None when either group is empty."""
    if not stayer_scores or not churner_scores:
        return None
    # Rank all scores together, ties sharing their average rank.
    ordered = sorted([(s, 1) for s in stayer_scores] + [(s, 0) for s in churner_scores])
    rank_sum = 0.0
    i = 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j][0] == ordered[i][0]:
            j += 1
        average_rank = (i + 1 + j) / 2
        rank_sum += average_rank * sum(is_stayer for _, is_stayer in ordered[i:j])
        i = j
    n_stayers, n_churners = len(stayer_scores), len(churner_scores)
    u = rank_sum - n_stayers * (n_stayers + 1) / 2
    return u / (n_stayers * n_churners)


def verdict(value: float | None) -> str:
    """The AUC in words."""
    if value is None:
        return "not enough outcomes: need scored renewals of both churned and stayed accounts"
    if value >= SEPARATES_FROM:
        return f"separates churners from renewers (AUC {value:.2f} >= {SEPARATES_FROM})"
    if value >= WEAK_FROM:
        return f"separates churners from renewers weakly (AUC {value:.2f})"
    if value > 1 - WEAK_FROM:
        return f"does not separate churners from renewers (AUC {value:.2f}, a coin toss is 0.5)"
    return f"points the wrong way: churners scored higher (AUC {value:.2f})"


def backtest(cases: Iterable[Case]) -> Backtest:
    """Churn by colour and the AUC of the score, over the renewals that had one."""
    cases = list(cases)
    scored = [c for c in cases if c.score is not None]
    by_colour: dict[str, ColourOutcome] = {}
    for colour in ("red", "yellow", "green"):
        group = [c for c in scored if c.colour == colour]
        by_colour[colour] = ColourOutcome(len(group), sum(c.churned for c in group))
    stayers = [c.score for c in scored if not c.churned and c.score is not None]
    churners = [c.score for c in scored if c.churned and c.score is not None]
    value = auc(stayers, churners)
    return Backtest(
        renewals=len(cases),
        unscored=len(cases) - len(scored),
        churned=len(churners),
        stayed=len(stayers),
        by_colour=by_colour,
        auc=value,
        verdict=verdict(value),
    )
