"""Whether a program's groups are split as its holdout percent says (pure): a sample ratio
mismatch test.

Held-out accounts are chosen by a hash (``decisions.in_holdout``), so over many accounts the
held-out share of the accounts in the results' groups should be near the program's holdout
percent. A share off by more than chance allows (Pearson's chi-square goodness of fit, one
degree of freedom, p < 0.001, the usual threshold for this check) means something upstream
skews the groups: a holdout percent changed between versions, decisions lost, or limits
(cooldown, budgets, account caps) keeping would-be-treated accounts from an offer while the
held-out ones are all counted. Whatever the cause, the comparison of the two groups is then
suspect, so the results say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import erfc, sqrt

# Below this p-value the split is called a mismatch (a false alarm once in 1,000 programs).
SRM_ALPHA = 0.001
# The chi-square approximation needs at least 5 expected accounts in each group (Cochran).
MIN_EXPECTED = 5.0


def chi_square_p_value_1df(statistic: float) -> float:
    """P(X > statistic) for X chi-square with one degree of freedom.

    X is Z² for a standard normal Z, so P(X > x) = P(|Z| > √x) = erfc(√(x / 2)).
    Known values: 3.841459 gives 0.05, 6.634897 gives 0.01, 10.827566 gives 0.001.
    """
    if statistic < 0:
        raise ValueError(f"a chi-square statistic is never negative: {statistic}")
    return erfc(sqrt(statistic / 2))


def chi_square_two_groups(observed_a: int, observed_b: int, share_a: float) -> float:
    """Pearson's goodness-of-fit statistic of counts (a, b) against shares (p, 1 - p):
    Σ (O - E)² / E with E = n·p and n·(1 - p) (both expected counts must be above 0)."""
    n = observed_a + observed_b
    expected_a, expected_b = n * share_a, n * (1 - share_a)
    if expected_a <= 0 or expected_b <= 0:
        raise ValueError(f"expected counts must be above 0: {expected_a}, {expected_b}")
    return (observed_a - expected_a) ** 2 / expected_a + (observed_b - expected_b) ** 2 / (
        expected_b
    )


@dataclass(frozen=True)
class SampleRatio:
    """The groups' split against its target, and whether the difference is beyond chance.

    ``chi_square`` and ``p_value`` are None when the test cannot be made (an expected count
    under ``MIN_EXPECTED``: too few accounts, or a holdout of 0 %); ``mismatch`` is then False.
    """

    treated: int
    holdout: int
    target_holdout_share: float
    observed_holdout_share: float | None
    chi_square: float | None
    p_value: float | None
    mismatch: bool


def sample_ratio(treated: int, holdout: int, target_holdout_share: float) -> SampleRatio:
    """Test the held-out share of ``treated + holdout`` accounts against its target."""
    if treated < 0 or holdout < 0 or not 0 <= target_holdout_share <= 1:
        raise ValueError(f"bad split: {treated}, {holdout}, {target_holdout_share}")
    n = treated + holdout
    observed = holdout / n if n else None
    expected = min(n * target_holdout_share, n * (1 - target_holdout_share))
    if n == 0 or expected < MIN_EXPECTED:
        return SampleRatio(treated, holdout, target_holdout_share, observed, None, None, False)
    statistic = chi_square_two_groups(holdout, treated, target_holdout_share)
    p = chi_square_p_value_1df(statistic)
    return SampleRatio(
        treated, holdout, target_holdout_share, observed, statistic, p, p < SRM_ALPHA
    )


def mismatch_warning(result: SampleRatio) -> str | None:
    """What the results say when the split is off beyond chance (None otherwise)."""
    if not result.mismatch or result.observed_holdout_share is None or result.p_value is None:
        return None
    return (
        f"Sample ratio mismatch: {result.holdout} of {result.treated + result.holdout} accounts"
        f" ({result.observed_holdout_share:.1%}) are held out against a target of"
        f" {result.target_holdout_share:.1%} (chi-square {result.chi_square:.1f}, p ="
        f" {result.p_value:.1e} < {SRM_ALPHA}): the groups are not split as designed, so"
        " their comparison is suspect. Look for a holdout percent changed between versions or"
        " limits (cooldown, budgets) keeping would-be-treated accounts from an offer."
    )
