"""Health scores worked by hand against the default scorecards, colours, drivers, and the
spreading of a missing measure's weight."""

from __future__ import annotations

import pytest

from services.scoring.domain.health import colour, score_health
from services.scoring.domain.measures import MEASURE_NAMES, raw_values
from services.scoring.domain.scorecards import DEFAULT_SCORECARDS, Scorecard
from tests.unit.scoring_factory import ago, facts, windows

EXACT = 1e-9


def by_measure(health_measures: tuple) -> dict:  # type: ignore[type-arg]
    return {m.measure: m for m in health_measures}


def test_smb_account_by_hand() -> None:
    # SMB weights and thresholds (scorecards.py). Sub-scores interpolate between points.
    #
    # measure              raw                 points around it          sub     w   contrib lost
    # login_recency        3 days              (1,100)-(7,70)            90      20  18.0    2.0
    # active_user_ratio    6/10 = 0.6          (0.5,70)-(0.8,100)        80      15  12.0    3.0
    # core_feature_breadth 2                   (2,60)                    60      15   9.0    6.0
    # key_action_trend     44 vs 84-44=40: +10% (0,70)-(25,100)          82      10   8.2    1.8
    # integrations         1                   (1,70)                    70       5   3.5    1.5
    # support_burden       1 medium = 2        (2,60)                    60       5   3.0    2.0
    # nps                  9                   (8,75)-(10,100)           87.5     5   4.375  0.625
    # csat                 4                   (4,80)                    80       5   4.0    1.0
    # payment_failures     1                   (1,50)                    50      15   7.5    7.5
    # champion_present     active 10 days ago  (1,100)                   100      5   5.0    0
    #                                                                   total 100  74.575
    # Green; drivers: payment_failures 7.5, core_feature_breadth 6, active_user_ratio 3.
    w = windows(
        logins=(300, 3),
        active_users_30=6,
        core_features_30=2,
        key_actions_30=44,
        key_actions_60=84,
        integrations_total=1,
        open_tickets={"medium": 1},
        nps=9,
        csat=4,
        payment_failures_60=1,
        champion_last_active=ago(10),
    )
    health = score_health(raw_values(w), DEFAULT_SCORECARDS["smb"])
    assert health.score == pytest.approx(74.575, abs=EXACT)
    assert health.colour == "green"
    got = by_measure(health.measures)
    expected = {
        "login_recency": (90, 18.0),
        "active_user_ratio": (80, 12.0),
        "core_feature_breadth": (60, 9.0),
        "key_action_trend": (82, 8.2),
        "integrations": (70, 3.5),
        "support_burden": (60, 3.0),
        "nps": (87.5, 4.375),
        "csat": (80, 4.0),
        "payment_failures": (50, 7.5),
        "champion_present": (100, 5.0),
    }
    for name, (sub, contribution) in expected.items():
        assert got[name].sub_score == pytest.approx(sub, abs=EXACT), name
        assert got[name].contribution == pytest.approx(contribution, abs=EXACT), name
        assert got[name].effective_weight == got[name].weight  # nothing missing
    assert [d.measure for d in health.drivers] == [
        "payment_failures",
        "core_feature_breadth",
        "active_user_ratio",
    ]
    assert [d.lost for d in health.drivers] == pytest.approx([7.5, 6.0, 3.0], abs=EXACT)


def test_mid_market_account_by_hand() -> None:
    # Mid-market weights and thresholds.
    #
    # measure              raw                    points around it      sub      w  contrib  lost
    # login_recency        14 days                (14,20)               20       12  2.4      9.6
    # active_user_ratio    5/40 = 0.125           (0,0)-(0.2,30)        18.75    15  2.8125  12.1875
    # core_feature_breadth 1                      (1,30)                30       12  3.6      8.4
    # key_action_trend     10 vs 40: -75%         below (-60,0)         0        10  0       10
    # integrations         0                      (0,0)                 0        10  0       10
    # support_burden       high 3 + medium 2 = 5  (3,70)-(8,30)         54       10  5.4      4.6
    # nps                  5                      (0,0)-(6,40)          33.333..  8  2.6667   5.3333
    # csat                 2                      (1,0)-(3,50)          25        5  1.25     3.75
    # payment_failures     2                      (1,50)-(3,0)          25        8  2.0      6.0
    # champion_present     active 5 days ago      (1,100)               100      10  10.0     0
    #                                                  total 27.4625 + 8/3 = 30.129166...
    # Red (30.1); drivers: active_user_ratio 12.1875, then integrations and key_action_trend
    # tied at 10 (by name).
    w = windows(
        account=facts(motion_segment="mid_market", seats_purchased=40),
        logins=(300, 14),
        active_users_30=5,
        core_features_30=1,
        key_actions_30=10,
        key_actions_60=50,
        integrations_total=0,
        open_tickets={"high": 1, "medium": 1},
        nps=5,
        csat=2,
        payment_failures_60=2,
        champion_last_active=ago(5),
    )
    health = score_health(raw_values(w), DEFAULT_SCORECARDS["mid_market"])
    assert health.score == pytest.approx(27.4625 + 8 / 3, abs=EXACT)
    assert health.colour == "red"
    got = by_measure(health.measures)
    assert got["active_user_ratio"].sub_score == pytest.approx(18.75, abs=EXACT)
    assert got["key_action_trend"].raw == -75.0
    assert got["key_action_trend"].sub_score == 0
    assert got["support_burden"].sub_score == pytest.approx(54, abs=EXACT)
    assert got["nps"].contribution == pytest.approx(8 / 3, abs=EXACT)
    assert [d.measure for d in health.drivers] == [
        "active_user_ratio",
        "integrations",
        "key_action_trend",
    ]


def test_enterprise_account_with_missing_measures_by_hand() -> None:
    # Enterprise weights. Never logged in (only API traffic), no NPS, no CSAT: those weigh
    # 5 + 10 + 5 = 20, so the present 80 are scaled by 100/80 = 1.25.
    #
    # measure              raw                   sub       w   eff     contrib   lost
    # login_recency        never: missing        -         5   0       0         0
    # active_user_ratio    150/500 = 0.3         60        12  15      9.0       6.0
    # core_feature_breadth 3                     85        10  12.5    10.625    1.875
    # key_action_trend     300 vs 400: -25%      40        8   10      4.0       6.0
    # integrations         4 (2,50)-(5,100)      83.333..  12  15      12.5      2.5
    # support_burden       urgent 2x5 + high 3 + low 2x1 = 15: 30
    #                                                      15  18.75   5.625     13.125
    # nps                  none: missing         -         10  0       0         0
    # csat                 none: missing         -         5   0       0         0
    # payment_failures     0                     100       5   6.25    6.25      0
    # champion_present     last active 40 days ago: 0
    #                                            0         18  22.5    0         22.5
    #                                                          100     48.0
    # Yellow; drivers: champion 22.5, support 13.125, then active_user_ratio and
    # key_action_trend tied at 6 (by name: active_user_ratio).
    w = windows(
        account=facts(motion_segment="enterprise", seats_purchased=500),
        logins=None,
        active_users_30=150,
        core_features_30=3,
        key_actions_30=300,
        key_actions_60=700,
        integrations_total=4,
        open_tickets={"urgent": 2, "high": 1, "low": 2},
        nps=None,
        csat=None,
        champion_last_active=ago(40),
    )
    health = score_health(raw_values(w), DEFAULT_SCORECARDS["enterprise"])
    assert health.score == pytest.approx(48.0, abs=EXACT)
    assert health.colour == "yellow"
    got = by_measure(health.measures)
    effective = {
        "login_recency": 0,
        "active_user_ratio": 15,
        "core_feature_breadth": 12.5,
        "key_action_trend": 10,
        "integrations": 15,
        "support_burden": 18.75,
        "nps": 0,
        "csat": 0,
        "payment_failures": 6.25,
        "champion_present": 22.5,
    }
    for name, eff in effective.items():
        assert got[name].effective_weight == pytest.approx(eff, abs=EXACT), name
    for name in ("login_recency", "nps", "csat"):
        m = got[name]
        assert (m.missing, m.raw, m.sub_score, m.contribution, m.lost) == (True, None, None, 0, 0)
    assert got["nps"].weight == 10  # the scorecard's weight is still shown
    assert [d.measure for d in health.drivers] == [
        "champion_present",
        "support_burden",
        "active_user_ratio",
    ]


def test_missing_weight_spreads_in_proportion() -> None:
    # A new SMB account that has sent no event yet, no CSAT: only support (5), NPS (5) and
    # payment failures (15) are known, 25 of 100. Effective weights: 20, 20, 60.
    # support 0 open: 100 x 20% = 20; NPS 10: 100 x 20% = 20; 1 failure: 50 x 60% = 30.
    # Score 70.0: green, exactly on the boundary.
    w = windows(
        account=facts(contract_start=ago(3)),
        events=None, logins=None, key_actions=None, integrations=None, nps=10, csat=None,
        payment_failures_60=1,
    )  # fmt: skip
    health = score_health(raw_values(w), DEFAULT_SCORECARDS["smb"])
    got = by_measure(health.measures)
    assert [m.measure for m in health.measures if not m.missing] == [
        "support_burden",
        "nps",
        "payment_failures",
    ]
    assert got["support_burden"].effective_weight == pytest.approx(20)
    assert got["nps"].effective_weight == pytest.approx(20)
    assert got["payment_failures"].effective_weight == pytest.approx(60)
    assert health.score == pytest.approx(70.0, abs=EXACT)
    assert health.colour == "green"


def test_no_weighted_measure_with_data_means_no_score() -> None:
    only_logins = Scorecard(
        motion="smb",
        version=2,
        weights={name: (100 if name == "login_recency" else 0) for name in MEASURE_NAMES},
        thresholds=DEFAULT_SCORECARDS["smb"].thresholds,
    )
    health = score_health(raw_values(windows(logins=None)), only_logins)
    assert (health.score, health.colour, health.drivers) == (None, None, ())
    # Present measures still show their sub-score, with no weight to carry.
    support = by_measure(health.measures)["support_burden"]
    assert (support.sub_score, support.effective_weight, support.contribution) == (100, 0, 0)


def test_a_measure_left_out_of_raw_values_counts_as_missing() -> None:
    raws = raw_values(windows())
    del raws["nps"]
    nps = by_measure(score_health(raws, DEFAULT_SCORECARDS["smb"]).measures)["nps"]
    assert nps.missing
    assert nps.effective_weight == 0


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.0, "red"),
        (39.9, "red"),
        (39.94, "red"),  # shown as 39.9
        (39.96, "yellow"),  # shown as 40.0
        (40.0, "yellow"),
        (69.9, "yellow"),
        (69.96, "green"),  # shown as 70.0
        (70.0, "green"),
        (100.0, "green"),
    ],
)
def test_colour_boundaries_follow_the_shown_score(score: float, expected: str) -> None:
    assert colour(score) == expected


def test_no_score_has_no_colour() -> None:
    assert colour(None) is None


def test_full_marks_lose_nothing_and_are_no_driver() -> None:
    health = score_health(raw_values(windows()), DEFAULT_SCORECARDS["smb"])
    assert all(d.lost > 0 for d in health.drivers)
    full = [m.measure for m in health.measures if m.sub_score == 100]
    assert full
    assert all(m.lost == 0 for m in health.measures if m.measure in full)
    assert not {d.measure for d in health.drivers} & set(full)
