"""RFM quintiles and behavioural segments: each rule, and which wins when several match."""

from __future__ import annotations

from typing import Any

import pytest

from services.scoring.domain.rfm import RfmBreakpoints, breakpoints, quintiles
from services.scoring.domain.segments import segment
from shared.contracts import AccountWindows, Rfm
from tests.unit.scoring_factory import ago, facts, windows

# --- RFM -----------------------------------------------------------------------------------


def test_quintile_cuts_by_nearest_rank() -> None:
    # Ten accounts: cut k is the value at position ceil(k x 10 / 5) = 2, 4, 6, 8.
    population = [(d, 10 * (d + 1), d) for d in range(10)]
    b = breakpoints(population)
    assert b.recency_days == (1, 3, 5, 7)
    assert b.frequency == (20, 40, 60, 80)
    assert b.monetary == (1, 3, 5, 7)


@pytest.mark.parametrize(
    ("frequency", "f"),
    [(0, 1), (20, 1), (21, 2), (40, 2), (41, 3), (60, 3), (80, 4), (81, 5), (10**6, 5)],
)
def test_frequency_ties_at_a_cut_go_to_the_lower_quintile(frequency: int, f: int) -> None:
    b = RfmBreakpoints((1, 3, 5, 7), (20, 40, 60, 80), (1, 3, 5, 7))
    assert quintiles(0, frequency, 0, b)[1] == f


@pytest.mark.parametrize(
    ("days", "r"), [(0, 5), (1, 5), (2, 4), (3, 4), (5, 3), (6, 2), (7, 2), (8, 1), (None, 1)]
)
def test_recency_fewer_days_is_better_and_never_is_worst(days: int | None, r: int) -> None:
    b = RfmBreakpoints((1, 3, 5, 7), (20, 40, 60, 80), (1, 3, 5, 7))
    assert quintiles(days, 50, 4, b) == (r, 3, 3)


def test_an_empty_population_places_everyone_at_3() -> None:
    b = breakpoints([])
    assert b == RfmBreakpoints(None, None, None)
    assert quintiles(0, 10**6, 10**9, b) == (3, 3, 3)
    assert quintiles(400, 0, 0, b) == (3, 3, 3)
    # Never having made a key action is worst even with no one to compare against.
    assert quintiles(None, 0, 0, b)[0] == 1


def test_accounts_without_recency_are_left_out_of_its_cuts() -> None:
    b = breakpoints([(None, 0, 100), (None, 0, 200), (4, 10, 300)])
    assert b.recency_days == (4, 4, 4, 4)
    assert quintiles(4, 0, 0, b)[0] == 5
    assert quintiles(5, 0, 0, b)[0] == 1


def test_a_population_of_zeros_puts_zero_frequency_at_1() -> None:
    b = breakpoints([(1, 0, 0)] * 9 + [(1, 50, 0)])
    assert quintiles(1, 0, 0, b)[1] == 1
    assert quintiles(1, 50, 0, b)[1] == 5


# --- Segments ------------------------------------------------------------------------------


def rfm(r: int = 3, f: int = 3, m: int = 3, recency_days: int | None = 2) -> Rfm:
    return Rfm(recency_days=recency_days, frequency=30, monetary_minor=50_000, r=r, f=f, m=m)


def steady_windows(**changes: Any) -> AccountWindows:
    """Sent events today, contract long started, 5 of 10 seats, 2 core features."""
    fields: dict[str, Any] = {"active_users_30": 5, "core_features_30": 2, "nps": 8}
    fields.update(changes)
    return windows(**fields)


def place(w: AccountWindows, score: float | None = 75.0, q: Rfm | None = None) -> tuple[str, str]:
    return segment(w, score, q if q is not None else rfm())


def test_steady_when_nothing_matches() -> None:
    assert place(steady_windows()) == ("steady", "no other rule matched")


@pytest.mark.parametrize(("last_event", "hibernating"), [(29, False), (30, True), (90, True)])
def test_hibernating_after_30_days_without_events(last_event: int, hibernating: bool) -> None:
    got = place(steady_windows(events=(300, last_event)))
    if hibernating:
        assert got == (
            "hibernating",
            f"no events in the last 30 days (last event {ago(last_event)}, {last_event} days ago)",
        )
    else:
        assert got[0] == "steady"


def test_an_account_that_never_sent_events_is_not_hibernating() -> None:
    w = steady_windows(events=None, logins=None, key_actions=None, integrations=None)
    assert place(w, q=rfm(r=1, recency_days=None)) == (
        "at_risk",
        "recency quintile 1 (no key action yet)",
    )


def test_at_risk_rules() -> None:
    assert place(steady_windows(), score=34.5) == ("at_risk", "health red (34.5 < 40)")
    # 39.96 shows as 40.0: yellow, not red.
    assert place(steady_windows(), score=39.96)[0] == "steady"
    assert place(steady_windows(), score=39.94) == ("at_risk", "health red (39.9 < 40)")
    assert place(steady_windows(nps=6)) == ("at_risk", "NPS detractor (6 <= 6)")
    assert place(steady_windows(nps=7))[0] == "steady"
    assert place(steady_windows(), q=rfm(r=1, recency_days=45)) == (
        "at_risk",
        "recency quintile 1 (45 days since the last key action)",
    )
    assert place(steady_windows(account=facts(cancel_intent=True))) == ("at_risk", "cancel intent")
    # No score at all is not red.
    assert place(steady_windows(), score=None)[0] == "steady"


def test_at_risk_rules_in_order() -> None:
    w = steady_windows(account=facts(cancel_intent=True), nps=2)
    assert place(w, score=10, q=rfm(r=1))[1] == "cancel intent"
    w = steady_windows(nps=2)
    assert place(w, score=10, q=rfm(r=1))[1] == "health red (10.0 < 40)"
    assert place(w, q=rfm(r=1))[1] == "NPS detractor (2 <= 6)"


def test_hibernating_wins_over_at_risk() -> None:
    w = steady_windows(events=(300, 45), nps=0, account=facts(cancel_intent=True))
    assert place(w, score=5, q=rfm(r=1))[0] == "hibernating"


def new_account(**changes: Any) -> AccountWindows:
    """Contract started 20 days ago, first key action 5 days after that (15 days ago)."""
    fields: dict[str, Any] = {
        "account": facts(contract_start=ago(20)),
        "events": (20, 0),
        "key_actions": (15, 0),
    }
    fields.update(changes)
    return steady_windows(**fields)


def test_newly_activated() -> None:
    assert place(new_account()) == (
        "newly_activated",
        f"first key action {ago(15)}, 5 days after contract start {ago(20)}",
    )


@pytest.mark.parametrize(
    ("contract_start", "first_key_action", "newly"),
    [
        (20, 20, True),  # on the start day
        (40, 11, True),  # 29 days after the start, 11 days ago
        (40, 10, False),  # 30 days after the start: outside the first 30 days
        (35, 29, True),  # 29 days ago: inside the last 30 days
        (40, 30, False),  # 30 days ago: outside the last 30 days
        (20, 25, False),  # before the contract started (a trial's)
    ],
)
def test_newly_activated_bounds(contract_start: int, first_key_action: int, newly: bool) -> None:
    w = new_account(
        account=facts(contract_start=ago(contract_start)),
        events=(60, 0),
        key_actions=(first_key_action, 0),
    )
    assert (place(w)[0] == "newly_activated") is newly


def test_newly_activated_counts_from_the_first_event_without_a_contract_start() -> None:
    w = new_account(account=facts(contract_start=None), events=(18, 0))
    assert place(w) == (
        "newly_activated",
        f"first key action {ago(15)}, 3 days after first event {ago(18)}",
    )


def test_at_risk_wins_over_newly_activated() -> None:
    assert place(new_account(), score=20)[0] == "at_risk"


def test_expansion_ready_by_seats() -> None:
    assert place(steady_windows(active_users_30=9)) == (
        "expansion_ready",
        "seat utilization 0.90 >= 0.9 (9 active of 10 seats)",
    )
    assert place(steady_windows(active_users_30=8))[0] == "steady"
    assert place(steady_windows(account=facts(seats_purchased=0), active_users_30=9))[0] == (
        "steady"
    )


def test_expansion_ready_by_broad_heavy_use() -> None:
    assert place(steady_windows(core_features_30=4), q=rfm(f=4)) == (
        "expansion_ready",
        "4 core features in 30 days (>= 4) and frequency quintile 4 (>= 4)",
    )
    assert place(steady_windows(core_features_30=3), q=rfm(f=5))[0] == "steady"
    assert place(steady_windows(core_features_30=4), q=rfm(f=3))[0] == "steady"


def test_newly_activated_wins_over_expansion_ready() -> None:
    assert place(new_account(active_users_30=10))[0] == "newly_activated"


def test_power_user() -> None:
    assert place(steady_windows(), q=rfm(r=5, f=5)) == (
        "power_user",
        "recency quintile 5 and frequency quintile 5",
    )
    assert place(steady_windows(), q=rfm(r=4, f=5))[0] == "steady"
    assert place(steady_windows(), q=rfm(r=5, f=4))[0] == "steady"


def test_expansion_ready_wins_over_power_user() -> None:
    assert place(steady_windows(active_users_30=10), q=rfm(r=5, f=5))[0] == "expansion_ready"
    assert place(steady_windows(core_features_30=4), q=rfm(r=5, f=5))[0] == "expansion_ready"
