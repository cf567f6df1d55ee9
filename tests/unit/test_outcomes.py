"""The renewal outcome rule (``services.ingest.domain.outcomes``) at its boundaries.

Every date derives from ``RENEWAL``, a base chosen here, never from the real today.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from services.ingest.domain.history import Recorded, changes, in_force, is_latest
from services.ingest.domain.outcomes import GRACE, renewal_outcomes, start_of
from shared.contracts import Outcome

RENEWAL = date(2030, 6, 15)
MIDNIGHT = start_of(RENEWAL)
GRACE_END = MIDNIGHT + GRACE
TODAY = RENEWAL + timedelta(days=30)
SECOND = timedelta(seconds=1)
BASE_FACTS: dict[str, Any] = {
    "status": "active",
    "plan": "growth",
    "billing_period": "annual",
    "mrr_minor": 10_000,
    "currency": "EUR",
    "seats_purchased": 10,
    "renewal_date": RENEWAL,
    "cancel_intent": False,
}


class History:
    """An account's history built change by change, each row holding the complete facts."""

    def __init__(self, at: datetime = MIDNIGHT - timedelta(days=200), **facts: Any) -> None:
        self.rows = [Recorded(at, {**BASE_FACTS, **facts})]

    def change(self, at: datetime, **facts: Any) -> History:
        previous = in_force(self.rows, at)
        assert previous is not None
        self.rows.append(Recorded(at, {**previous.facts, **facts}))
        self.rows.sort(key=lambda r: r.effective_at)  # stable: later additions stay later
        return self

    def outcomes(self, today: date = TODAY) -> list[Outcome]:
        return renewal_outcomes("acme", self.rows, today)

    def only(self, today: date = TODAY) -> Outcome:
        (outcome,) = self.outcomes(today)
        return outcome


def test_an_unchanged_account_renewed_decided_at_the_grace_end() -> None:
    outcome = History().only()
    assert outcome.outcome == "renewed"
    assert (outcome.mrr_before_minor, outcome.mrr_after_minor) == (10_000, 10_000)
    assert (outcome.currency, outcome.currency_before) == ("EUR", "EUR")
    assert outcome.decided_at == GRACE_END
    assert outcome.renewal_date == RENEWAL
    assert outcome.account_id == "acme"
    assert outcome.final is True


@pytest.mark.parametrize(
    ("mrr", "kind"), [(12_000, "expanded"), (8_000, "contracted"), (10_000, "renewed")]
)
def test_mrr_after_the_grace_against_mrr_before_decides(mrr: int, kind: str) -> None:
    at = MIDNIGHT + timedelta(days=3)
    outcome = History().change(at, mrr_minor=mrr).only()
    assert outcome.outcome == kind
    assert (outcome.mrr_before_minor, outcome.mrr_after_minor) == (10_000, mrr)
    assert outcome.decided_at == (at if kind != "renewed" else GRACE_END)


def test_a_change_exactly_at_the_renewal_counts_after_it_and_one_just_before_before_it() -> None:
    at_renewal = History().change(MIDNIGHT, mrr_minor=15_000).only()
    assert at_renewal.outcome == "expanded"
    assert at_renewal.decided_at == MIDNIGHT
    just_before = History().change(MIDNIGHT - SECOND, mrr_minor=15_000).only()
    assert just_before.outcome == "renewed"
    assert just_before.mrr_before_minor == 15_000


def test_a_change_exactly_at_the_grace_end_counts_and_one_just_after_does_not() -> None:
    at_end = History().change(GRACE_END, mrr_minor=15_000).only()
    assert at_end.outcome == "expanded"
    assert at_end.decided_at == GRACE_END
    after_end = History().change(GRACE_END + SECOND, mrr_minor=15_000).only()
    assert after_end.outcome == "renewed"
    assert after_end.mrr_after_minor == 10_000


def test_the_mrr_of_the_grace_end_decides_not_a_change_within_it_undone() -> None:
    history = History().change(MIDNIGHT + timedelta(days=1), mrr_minor=20_000)
    history.change(MIDNIGHT + timedelta(days=4), mrr_minor=10_000)
    assert history.only().outcome == "renewed"


def test_decided_at_is_when_the_final_mrr_took_effect_after_the_renewal() -> None:
    first = MIDNIGHT + timedelta(days=1)
    history = History().change(first, mrr_minor=20_000)
    history.change(MIDNIGHT + timedelta(days=2), seats_purchased=30)  # mrr holds on
    assert history.only().decided_at == first


@pytest.mark.parametrize(
    "at",
    [
        MIDNIGHT - timedelta(days=40),  # long before
        MIDNIGHT - SECOND,  # just before
        MIDNIGHT,  # on the renewal, at its first instant
        MIDNIGHT + timedelta(hours=15),  # on the renewal day
        GRACE_END - SECOND,  # within the grace
        GRACE_END,  # exactly at the grace end
    ],
)
def test_a_cancellation_by_the_grace_end_is_a_churn(at: datetime) -> None:
    outcome = History().change(at, status="cancelled").only()
    assert outcome.outcome == "churned"
    assert outcome.mrr_before_minor == (10_000)
    assert outcome.mrr_after_minor == 0
    assert outcome.decided_at == at


def test_a_cancellation_after_the_grace_is_no_churn_of_this_renewal() -> None:
    outcome = History().change(GRACE_END + SECOND, status="cancelled").only()
    assert outcome.outcome == "renewed"


def test_a_cancellation_reinstated_within_the_grace_is_no_churn() -> None:
    history = History().change(MIDNIGHT - timedelta(days=2), status="cancelled")
    history.change(MIDNIGHT + timedelta(days=5), status="active", mrr_minor=9_000)
    outcome = history.only()
    assert outcome.outcome == "contracted"
    assert outcome.mrr_after_minor == 9_000


def test_a_cancellation_reinstated_after_the_grace_is_a_churn() -> None:
    cancelled = MIDNIGHT - timedelta(days=2)
    history = History().change(cancelled, status="cancelled")
    history.change(GRACE_END + SECOND, status="active")
    outcome = history.only()
    assert outcome.outcome == "churned"
    assert outcome.decided_at == cancelled


def test_churn_is_decided_when_the_cancelled_run_began() -> None:
    cancelled = MIDNIGHT + timedelta(days=1)
    history = History().change(cancelled, status="cancelled")
    history.change(MIDNIGHT + timedelta(days=2), status="cancelled", cancel_intent=True)
    assert history.only().decided_at == cancelled


def test_a_renewal_date_moved_before_it_passed_does_not_count() -> None:
    later = RENEWAL + timedelta(days=10)
    moved = History().change(MIDNIGHT - SECOND, renewal_date=later)
    assert [o.renewal_date for o in moved.outcomes()] == [later]
    postponed_far = History().change(MIDNIGHT - timedelta(days=5), renewal_date=TODAY)
    assert postponed_far.outcomes() == []


def test_a_renewal_date_moved_on_its_day_or_later_counts() -> None:
    next_year = RENEWAL + timedelta(days=365)
    for at in (MIDNIGHT, MIDNIGHT + timedelta(hours=9), MIDNIGHT + timedelta(days=2)):
        rolled = History().change(at, renewal_date=next_year)
        assert [o.renewal_date for o in rolled.outcomes()] == [RENEWAL]


def test_a_renewal_date_set_on_its_own_day_counts() -> None:
    history = History(renewal_date=RENEWAL + timedelta(days=90))
    history.change(MIDNIGHT + timedelta(hours=10), renewal_date=RENEWAL)
    assert [o.renewal_date for o in history.outcomes()] == [RENEWAL]


def test_only_dates_strictly_before_today_count() -> None:
    assert History().outcomes(today=RENEWAL) == []
    assert [o.renewal_date for o in History().outcomes(today=RENEWAL + timedelta(days=1))] == [
        RENEWAL
    ]


def test_an_outcome_is_final_once_the_grace_has_ended_by_today() -> None:
    assert History().only(today=RENEWAL + timedelta(days=6)).final is False
    assert History().only(today=RENEWAL + timedelta(days=7)).final is True


def test_no_renewal_date_no_outcome() -> None:
    assert History(renewal_date=None).outcomes() == []
    assert renewal_outcomes("acme", [], TODAY) == []


def test_a_renewal_date_cleared_before_it_passed_does_not_count() -> None:
    history = History().change(MIDNIGHT - timedelta(days=1), renewal_date=None)
    assert history.outcomes() == []


def test_each_passed_renewal_of_a_rolling_subscription_has_its_outcome() -> None:
    second = RENEWAL + timedelta(days=365)
    history = History()
    history.change(MIDNIGHT + timedelta(hours=1), renewal_date=second)
    history.change(start_of(second) + timedelta(hours=1), renewal_date=second + timedelta(365))
    history.change(start_of(second) + timedelta(days=2), mrr_minor=12_500)
    found = history.outcomes(today=second + timedelta(days=20))
    assert [(o.renewal_date, o.outcome) for o in found] == [
        (RENEWAL, "renewed"),
        (second, "expanded"),
    ]


def test_a_currency_change_across_the_renewal_compares_no_amounts() -> None:
    history = History().change(MIDNIGHT + timedelta(days=1), currency="USD", mrr_minor=50_000)
    outcome = history.only()
    assert outcome.outcome == "renewed"
    assert (outcome.currency_before, outcome.currency) == ("EUR", "USD")
    assert (outcome.mrr_before_minor, outcome.mrr_after_minor) == (10_000, 50_000)


def test_a_currency_change_long_before_the_renewal_is_compared_in_the_new_currency() -> None:
    history = History().change(MIDNIGHT - timedelta(days=30), currency="USD", mrr_minor=11_000)
    history.change(MIDNIGHT + timedelta(days=2), mrr_minor=13_000)
    outcome = history.only()
    assert (outcome.outcome, outcome.currency, outcome.currency_before) == (
        "expanded",
        "USD",
        "USD",
    )


def test_a_history_that_starts_on_the_renewal_day_compares_from_its_first_facts() -> None:
    history = History(at=MIDNIGHT + timedelta(hours=8))
    history.change(MIDNIGHT + timedelta(days=2), mrr_minor=11_000)
    outcome = history.only()
    assert (outcome.outcome, outcome.mrr_before_minor) == ("expanded", 10_000)


def test_a_history_that_starts_after_the_renewal_day_says_nothing_of_it() -> None:
    assert History(at=MIDNIGHT + timedelta(days=1)).outcomes() == []


def test_history_helpers() -> None:
    rows = History().change(MIDNIGHT, mrr_minor=1).rows
    assert in_force(rows, MIDNIGHT - SECOND) is rows[0]
    assert in_force(rows, MIDNIGHT) is rows[1]
    assert in_force(rows, rows[0].effective_at - SECOND) is None
    assert is_latest(rows, MIDNIGHT)
    assert not is_latest(rows, MIDNIGHT - SECOND)
    assert is_latest([], MIDNIGHT)
    assert changes(rows[0].facts, rows[1].facts) == {"mrr_minor": {"old": 10_000, "new": 1}}
    created = changes(None, rows[0].facts)
    assert created["renewal_date"] == {"old": None, "new": RENEWAL.isoformat()}
    assert set(created) == set(BASE_FACTS)
    assert changes(rows[0].facts, dict(rows[0].facts)) == {}
