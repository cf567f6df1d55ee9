"""Properties of scoring over generated accounts and scorecards (hypothesis)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, get_args

from hypothesis import given, settings
from hypothesis import strategies as st

from services.scoring.domain.health import colour, display_score, score_health
from services.scoring.domain.measures import MEASURE_NAMES, MEASURES, raw_values
from services.scoring.domain.milestones import reached
from services.scoring.domain.rfm import breakpoints, quintiles
from services.scoring.domain.scorecards import DEFAULT_SCORECARDS, Scorecard, validate_scorecard
from services.scoring.domain.snapshot import build_snapshot, changes, rfm_inputs
from shared.contracts import (
    AccountFacts,
    AccountWindows,
    Counters,
    Milestone,
    SeenDates,
    Survey,
)
from tests.unit.scoring_factory import AS_OF, NOW, ago

NOISE = 1e-9
# The machine's two cores are shared: a per-example deadline would only make these flaky.
RELAXED = settings(deadline=None)
MOTIONS = ("smb", "mid_market", "enterprise")


# --- Strategies ----------------------------------------------------------------------------


def days_ago(high: int = 400) -> st.SearchStrategy[date]:
    return st.integers(0, high).map(ago)


@st.composite
def seen_dates(draw: st.DrawFn) -> SeenDates:
    if draw(st.booleans()):
        return SeenDates()
    last = draw(st.integers(0, 200))
    first = last + draw(st.integers(0, 300))
    return SeenDates(first=ago(first), last=ago(last))


@st.composite
def account_facts(draw: st.DrawFn) -> AccountFacts:
    return AccountFacts(
        external_id="acct-p",
        name="Prop",
        motion_segment=draw(st.sampled_from(MOTIONS)),
        plan=draw(st.none() | st.just("pro")),
        billing_period=draw(st.sampled_from(["monthly", "annual", "multi_year"])),
        mrr_minor=draw(st.integers(0, 10**8)),
        currency="EUR",
        seats_purchased=draw(st.integers(0, 1000)),
        contract_start=draw(st.none() | days_ago(800)),
        renewal_date=draw(st.none() | st.integers(-30, 400).map(lambda d: ago(-d))),
        status=draw(st.sampled_from(["trial", "active", "paused", "cancelled"])),
        champion_user_id=draw(st.none() | st.just("u-champ")),
        cancel_intent=draw(st.booleans()),
    )


@st.composite
def account_windows(draw: st.DrawFn) -> AccountWindows:
    key_30 = draw(st.integers(0, 2000))
    events = draw(seen_dates())
    return AccountWindows(
        account_id="acct-p",
        as_of=AS_OF,
        account=draw(account_facts()),
        sum_7=Counters(key_actions=draw(st.integers(0, key_30))),
        sum_30=Counters(key_actions=key_30),
        sum_60=Counters(
            key_actions=key_30 + draw(st.integers(0, 2000)),
            payment_failures=draw(st.integers(0, 6)),
        ),
        integrations_total=draw(st.integers(0, 12)),
        active_users_7=draw(st.integers(0, 300)),
        active_users_30=draw(st.integers(0, 1200)),
        core_features_7=draw(st.integers(0, 6)),
        core_features_30=draw(st.integers(0, 6)),
        seen={
            "events": events,
            "logins": draw(seen_dates()),
            "key_actions": draw(seen_dates()),
            "integrations": draw(seen_dates()),
        },
        key_action_days=draw(st.integers(0, 2**60 - 1)),
        weekly_active_users=draw(st.lists(st.integers(0, 40), min_size=8, max_size=8)),
        champion_last_active=draw(st.none() | days_ago(90)),
        paid_months=draw(st.integers(0, 60)),
        open_tickets=draw(
            st.dictionaries(
                st.sampled_from(["low", "medium", "high", "urgent"]), st.integers(0, 12)
            )
        ),
        nps=draw(st.none() | st.integers(0, 10).map(lambda s: Survey(score=s, responded_at=NOW))),
        csat=draw(st.none() | st.integers(1, 5).map(lambda s: Survey(score=s, responded_at=NOW))),
    )


@st.composite
def scorecards(draw: st.DrawFn) -> Scorecard:
    """A random valid scorecard: integer weights composing 100, monotonic thresholds."""
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=9, max_size=9)))
    bounds = [0, *cuts, 100]
    weights = {n: float(bounds[i + 1] - bounds[i]) for i, n in enumerate(MEASURE_NAMES)}
    thresholds = {}
    for name in MEASURE_NAMES:
        values = sorted(
            draw(
                st.lists(
                    st.floats(-200, 2000, allow_nan=False), min_size=2, max_size=5, unique=True
                )
            )
        )
        subs = sorted(draw(st.lists(st.floats(0, 100), min_size=len(values), max_size=len(values))))
        if not MEASURES[name].higher_is_better:
            subs.reverse()
        thresholds[name] = tuple(zip(values, subs, strict=True))
    return Scorecard(motion="smb", version=7, weights=weights, thresholds=thresholds)


any_scorecard = st.sampled_from(list(DEFAULT_SCORECARDS.values())) | scorecards()


# --- The score -----------------------------------------------------------------------------


@RELAXED
@given(account_windows(), any_scorecard)
def test_score_within_0_100_and_contributions_add_up(w: AccountWindows, card: Scorecard) -> None:
    health = score_health(raw_values(w), card)
    total = math.fsum(m.contribution for m in health.measures)
    if health.score is None:
        assert health.colour is None
        assert total == 0
        return
    assert 0 <= health.score <= 100
    assert math.isclose(total, health.score, abs_tol=NOISE)
    present = [m for m in health.measures if not m.missing]
    assert math.isclose(math.fsum(m.effective_weight for m in present), 100, abs_tol=NOISE)
    for m in health.measures:
        assert math.isclose(m.lost, m.effective_weight - m.contribution, abs_tol=NOISE)
        assert m.sub_score is None or 0 <= m.sub_score <= 100
    assert health.colour == colour(display_score(health.score))
    lost = [d.lost for d in health.drivers]
    assert lost == sorted(lost, reverse=True)
    assert len(health.drivers) <= 3


@RELAXED
@given(account_windows(), any_scorecard, st.data())
def test_raising_a_good_signal_never_lowers_the_score(
    w: AccountWindows, card: Scorecard, data: st.DataObject
) -> None:
    raws = raw_values(w)
    present = [n for n, v in raws.items() if v is not None]
    if not present:
        return
    name = data.draw(st.sampled_from(present))
    step = data.draw(st.floats(0, 1000, allow_nan=False))
    raw = raws[name]
    assert raw is not None
    better = dict(raws)
    better[name] = raw + step if MEASURES[name].higher_is_better else raw - step
    before, after = score_health(raws, card).score, score_health(better, card).score
    assert before is not None
    assert after is not None
    assert after >= before - NOISE


def _more_recent_login(w: AccountWindows) -> AccountWindows | None:
    logins = w.seen.get("logins")
    if logins is None or logins.last is None or logins.last >= w.as_of:
        return None
    later = logins.model_copy(update={"last": logins.last + timedelta(days=1)})
    return w.model_copy(update={"seen": w.seen | {"logins": later}})


def _fewer_tickets(w: AccountWindows) -> AccountWindows | None:
    busy = [sev for sev, n in w.open_tickets.items() if n > 0]
    if not busy:
        return None
    return w.model_copy(
        update={"open_tickets": w.open_tickets | {busy[0]: w.open_tickets[busy[0]] - 1}}
    )


def _survey_up(kind: str, top: int) -> Callable[[AccountWindows], AccountWindows | None]:
    def improve(w: AccountWindows) -> AccountWindows | None:
        survey: Survey | None = getattr(w, kind)
        if survey is None or survey.score >= top:
            return None
        return w.model_copy(update={kind: survey.model_copy(update={"score": survey.score + 1})})

    return improve


IMPROVEMENTS: dict[str, Callable[[AccountWindows], AccountWindows | None]] = {
    "one more active user": lambda w: w.model_copy(
        update={"active_users_30": w.active_users_30 + 1}
    ),
    "one more core feature": lambda w: w.model_copy(
        update={"core_features_30": w.core_features_30 + 1}
    ),
    "one more integration": lambda w: w.model_copy(
        update={"integrations_total": w.integrations_total + 1}
    ),
    "one payment failure fewer": lambda w: (
        w.model_copy(
            update={
                "sum_60": w.sum_60.model_copy(
                    update={"payment_failures": w.sum_60.payment_failures - 1}
                )
            }
        )
        if w.sum_60.payment_failures > 0
        else None
    ),
    "one open ticket fewer": _fewer_tickets,
    "a later last login": _more_recent_login,
    "a better NPS": _survey_up("nps", 10),
    "a better CSAT": _survey_up("csat", 5),
}


@RELAXED
@given(account_windows(), st.sampled_from(list(DEFAULT_SCORECARDS.values())), st.data())
def test_a_better_account_never_scores_lower(
    w: AccountWindows, card: Scorecard, data: st.DataObject
) -> None:
    improvement = data.draw(st.sampled_from(sorted(IMPROVEMENTS)))
    better = IMPROVEMENTS[improvement](w)
    if better is None:
        return
    before = score_health(raw_values(w), card).score
    after = score_health(raw_values(better), card).score
    if before is None:
        return
    assert after is not None
    assert after >= before - NOISE, improvement


# --- Scorecard validation ------------------------------------------------------------------


def plain(card: Scorecard) -> tuple[dict[str, Any], dict[str, Any]]:
    return dict(card.weights), {k: [list(p) for p in v] for k, v in card.thresholds.items()}


@RELAXED
@given(any_scorecard)
def test_every_valid_scorecard_validates(card: Scorecard) -> None:
    assert validate_scorecard(*plain(card)) == []


Mutation = Callable[[dict[str, Any], dict[str, Any], st.DataObject], None]


def _measure(data: st.DataObject) -> str:
    return data.draw(st.sampled_from(MEASURE_NAMES))


def _drop_weight(w: dict[str, Any], t: dict[str, Any], data: st.DataObject) -> None:
    del w[_measure(data)]


def _unknown_weight(w: dict[str, Any], t: dict[str, Any], data: st.DataObject) -> None:
    w[data.draw(st.sampled_from(["nsp", "logins", "", "NPS"]))] = 0


def _negative_weight(w: dict[str, Any], t: dict[str, Any], data: st.DataObject) -> None:
    a, b = data.draw(st.lists(st.sampled_from(MEASURE_NAMES), min_size=2, max_size=2, unique=True))
    x = data.draw(st.floats(0.001, 50))
    w[a], w[b] = w[a] - w[a] - x, w[b] + w[a] + x  # still sums to 100


def _wrong_sum(w: dict[str, Any], t: dict[str, Any], data: st.DataObject) -> None:
    w[_measure(data)] += data.draw(st.sampled_from([-1, 1, 1e-6, -1e-6, 100]))


def _not_a_number(w: dict[str, Any], t: dict[str, Any], data: st.DataObject) -> None:
    w[_measure(data)] = data.draw(st.sampled_from([math.nan, math.inf, -math.inf, "5", None]))


def _drop_thresholds(w: dict[str, Any], t: dict[str, Any], data: st.DataObject) -> None:
    del t[_measure(data)]


def _unknown_thresholds(w: dict[str, Any], t: dict[str, Any], data: st.DataObject) -> None:
    t["seat_count"] = [[0, 0], [1, 100]]


def _one_point(w: dict[str, Any], t: dict[str, Any], data: st.DataObject) -> None:
    name = _measure(data)
    t[name] = t[name][: data.draw(st.integers(0, 1))]


def _repeat_value(w: dict[str, Any], t: dict[str, Any], data: st.DataObject) -> None:
    points = t[_measure(data)]
    i = data.draw(st.integers(1, len(points) - 1))
    points[i][0] = points[i - 1][0] - data.draw(st.sampled_from([0, 0.5, 100]))


def _sub_out_of_range(w: dict[str, Any], t: dict[str, Any], data: st.DataObject) -> None:
    points = t[_measure(data)]
    i = data.draw(st.integers(0, len(points) - 1))
    points[i][1] = data.draw(st.sampled_from([-0.01, 100.01, 1000, -50]))


def _against_direction(w: dict[str, Any], t: dict[str, Any], data: st.DataObject) -> None:
    name = _measure(data)
    points = t[name]
    i = data.draw(st.integers(1, len(points) - 1))
    step = data.draw(st.floats(0.01, 10))
    # One step the wrong way from the previous point, kept inside 0..100 where it can be.
    if MEASURES[name].higher_is_better:
        points[i][1] = points[i - 1][1] - step
    else:
        points[i][1] = points[i - 1][1] + step


def _malformed_point(w: dict[str, Any], t: dict[str, Any], data: st.DataObject) -> None:
    points = t[_measure(data)]
    i = data.draw(st.integers(0, len(points) - 1))
    points[i] = data.draw(st.sampled_from([[1], [1, 2, 3], [math.nan, 5], [1, math.inf], "1,2"]))


MUTATIONS: dict[str, Mutation] = {
    "drop a weight": _drop_weight,
    "unknown weight": _unknown_weight,
    "negative weight": _negative_weight,
    "weights off 100": _wrong_sum,
    "weight not a number": _not_a_number,
    "drop thresholds": _drop_thresholds,
    "unknown thresholds": _unknown_thresholds,
    "fewer than 2 points": _one_point,
    "values not increasing": _repeat_value,
    "sub-score out of range": _sub_out_of_range,
    "sub-scores against the direction": _against_direction,
    "malformed point": _malformed_point,
}


@settings(max_examples=300, deadline=None)
@given(any_scorecard, st.sampled_from(sorted(MUTATIONS)), st.data())
def test_validation_catches_every_mutation(
    card: Scorecard, mutation: str, data: st.DataObject
) -> None:
    weights, thresholds = plain(card)
    MUTATIONS[mutation](weights, thresholds, data)
    problems = validate_scorecard(weights, thresholds)
    assert problems, mutation
    assert all(p.field.startswith(("weights", "thresholds")) and p.message for p in problems)


# --- Snapshot, milestones, RFM --------------------------------------------------------------


@RELAXED
@given(account_windows(), st.lists(account_windows(), max_size=6))
def test_snapshot_of_any_account(w: AccountWindows, population: list[AccountWindows]) -> None:
    assert w.account is not None
    card = DEFAULT_SCORECARDS[w.account.motion_segment]
    breaks = breakpoints(rfm_inputs(p) for p in [*population, w])
    s = build_snapshot(w, card, breaks, previous_milestones={}, history={}, override=None, now=NOW)
    assert s is not None
    assert s.health_score is None or 0 <= s.health_score <= 100
    assert 1 <= min(s.rfm.r, s.rfm.f, s.rfm.m) <= max(s.rfm.r, s.rfm.f, s.rfm.m) <= 5
    assert s.segment_rule
    assert changes(None, s) == ["created"]
    again = build_snapshot(
        w,
        card,
        breaks,
        previous_milestones=s.milestones,
        history={AS_OF - timedelta(days=7): 50.0},
        override=None,
        now=NOW + timedelta(minutes=5),
    )
    assert again is not None
    assert changes(s, again) == []


@RELAXED
@given(account_windows(), st.dictionaries(st.sampled_from(get_args(Milestone)), days_ago()))
def test_milestones_once_reached_stay_reached(
    w: AccountWindows, previous: dict[Milestone, date]
) -> None:
    got = reached(w, previous)
    for milestone, day in previous.items():
        assert got[milestone] <= day
    assert reached(w, got) == got


RFM_TRIPLE = st.tuples(st.none() | st.integers(0, 400), st.integers(0, 500), st.integers(0, 10**6))


@RELAXED
@given(st.lists(RFM_TRIPLE), RFM_TRIPLE, st.integers(1, 50))
def test_quintiles_are_1_to_5_and_better_is_never_lower(
    population: list[tuple[int | None, int, int]], account: tuple[int | None, int, int], step: int
) -> None:
    b = breakpoints(population)
    recency, frequency, monetary = account
    r, f, m = quintiles(recency, frequency, monetary, b)
    assert all(1 <= q <= 5 for q in (r, f, m))
    r2, f2, m2 = quintiles(
        None if recency is None else max(recency - step, 0), frequency + step, monetary + step, b
    )
    assert (r2 >= r, f2 >= f, m2 >= m) == (True, True, True)
