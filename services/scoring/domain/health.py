"""The health score: each measure's sub-score, weighted, with missing weight spread over the rest.

score = sum over present measures of sub_score x effective_weight / 100, where a present
measure's effective weight is its weight x 100 / (sum of present weights). A measure with no
data (raw None) therefore neither helps nor hurts: its weight goes to the others in proportion
to their own weights, and the effective weights of the present measures still add up to 100.
When no present measure has any weight there is nothing to score, and score and colour are None.

Numbers here are exact; rounding for display happens only when a snapshot is built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from services.scoring.domain.measures import MEASURE_NAMES
from services.scoring.domain.scorecards import Scorecard, sub_score
from shared.contracts import Colour, Driver, MeasureScore

RED_BELOW = 40.0
YELLOW_BELOW = 70.0
MAX_DRIVERS = 3
SCORE_DECIMALS = 1


@dataclass(frozen=True)
class Health:
    """An account's exact health: the score (None: nothing to score), its colour, every
    measure's part in it, and the measures that cost it most."""

    score: float | None
    colour: Colour | None
    measures: tuple[MeasureScore, ...]
    drivers: tuple[Driver, ...]


def display_score(score: float) -> float:
    """The score as shown: one decimal."""
    return round(score, SCORE_DECIMALS)


def colour(score: float | None) -> Colour | None:
    """Red below 40, yellow below 70, green from 70, judged on the score as shown (one
    decimal), so 39.96, shown as 40.0, is yellow like the number says."""
    if score is None:
        return None
    shown = display_score(score)
    if shown < RED_BELOW:
        return "red"
    if shown < YELLOW_BELOW:
        return "yellow"
    return "green"


def score_health(raw_values: Mapping[str, float | None], scorecard: Scorecard) -> Health:
    """Score one account's raw measure values (``measures.raw_values``) against a scorecard.

    A measure absent from ``raw_values`` counts as missing.
    """
    raws = {name: raw_values.get(name) for name in MEASURE_NAMES}
    present_weight = math.fsum(
        scorecard.weights[name] for name, raw in raws.items() if raw is not None
    )
    scores: list[MeasureScore] = []
    for name, raw in raws.items():
        weight = float(scorecard.weights[name])
        if raw is None:
            scores.append(
                MeasureScore(
                    measure=name,
                    raw=None,
                    missing=True,
                    sub_score=None,
                    weight=weight,
                    effective_weight=0.0,
                    contribution=0.0,
                    lost=0.0,
                )
            )
            continue
        sub = sub_score(scorecard.thresholds[name], raw)
        effective = weight * 100.0 / present_weight if present_weight > 0 else 0.0
        scores.append(
            MeasureScore(
                measure=name,
                raw=raw,
                missing=False,
                sub_score=sub,
                weight=weight,
                effective_weight=effective,
                contribution=sub * effective / 100.0,
                # Computed from (100 - sub), not as effective - contribution, so a full
                # sub-score loses exactly 0 and never shows up as a driver by float noise.
                lost=(100.0 - sub) * effective / 100.0,
            )
        )

    if present_weight <= 0:
        return Health(score=None, colour=None, measures=tuple(scores), drivers=())
    # Each contribution is at most its effective weight, which add up to 100; the clamp only
    # absorbs float noise at the very ends.
    score = min(100.0, max(0.0, math.fsum(s.contribution for s in scores)))
    return Health(
        score=score, colour=colour(score), measures=tuple(scores), drivers=drivers(scores)
    )


def drivers(scores: tuple[MeasureScore, ...] | list[MeasureScore]) -> tuple[Driver, ...]:
    """Up to three present measures that cost points, most points lost first (ties by name)."""
    losing = [s for s in scores if not s.missing and s.sub_score is not None and s.lost > 0]
    losing.sort(key=lambda s: (-s.lost, s.measure))
    return tuple(
        Driver(measure=s.measure, lost=s.lost, sub_score=s.sub_score, raw=s.raw)
        for s in losing[:MAX_DRIVERS]
        if s.sub_score is not None
    )
