"""The restart policy of ``tenure up``: back off on each crash, give up on a crash loop."""

from __future__ import annotations

from shared.supervisor import RestartPolicy


def test_each_crash_in_a_row_waits_longer_until_the_cap() -> None:
    policy = RestartPolicy(max_crashes=10, window_seconds=60, base_delay=0.5, max_delay=3)
    delays = [policy.crashed(float(t)) for t in range(6)]
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_the_fifth_crash_within_a_minute_gives_up() -> None:
    policy = RestartPolicy()
    assert [policy.crashed(t) for t in (0.0, 5.0, 10.0, 20.0)] == [0.5, 1.0, 2.0, 4.0]
    assert policy.crashed(59.0) is None
    assert policy.recent_crashes == 5


def test_crashes_older_than_the_window_are_forgiven() -> None:
    policy = RestartPolicy()
    for t in (0.0, 1.0, 2.0, 3.0):
        assert policy.crashed(t) is not None
    # A minute later the old crashes no longer count: a fresh first delay, no giving up.
    assert policy.crashed(70.0) == 0.5
    assert policy.recent_crashes == 1
    for t in (71.0, 72.0, 73.0):
        assert policy.crashed(t) is not None
    assert policy.crashed(74.0) is None
