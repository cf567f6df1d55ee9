"""An account's snapshot from its windows, and what changed since the last one.

``build_snapshot`` is the one place exact numbers are rounded for display: the health score
(and its 7/30-day changes) to one decimal, sub-scores, weights, contributions and points lost
to two. Colour and segment are decided on the exact score as shown (``health.colour``), so the
colour always matches the number on screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from services.scoring.domain.health import display_score, score_health
from services.scoring.domain.measures import raw_values, seen
from services.scoring.domain.milestones import reached
from services.scoring.domain.renewal import days_since_contract_start, days_to_renewal
from services.scoring.domain.renewal import renewal_window as window_for
from services.scoring.domain.rfm import RfmBreakpoints, quintiles
from services.scoring.domain.scorecards import Scorecard
from services.scoring.domain.segments import segment
from services.scoring.domain.tiers import tier
from shared.contracts import (
    AccountWindows,
    ColourOverride,
    Driver,
    MeasureScore,
    Milestone,
    Rfm,
    Snapshot,
    SnapshotChange,
)

DETAIL_DECIMALS = 2
SEAT_UTILIZATION_TRIGGER = 0.9
MONTHS_PER_YEAR = 12


def in_rfm_population(windows: AccountWindows) -> bool:
    """Whether the account counts in the population RFM cuts are taken over: accounts ingest
    knows whose status is ``active`` (trials, paused and cancelled accounts would skew the
    quintiles of paying, using customers)."""
    return windows.account is not None and windows.account.status == "active"


def rfm_inputs(windows: AccountWindows) -> tuple[int | None, int, int]:
    """One account's (recency_days | None, frequency, monetary) for ``rfm.breakpoints``:
    days since the last key action (None: never), key actions in 30 days, MRR in minor units."""
    last = seen(windows, "key_actions").last
    recency = (windows.as_of - last).days if last is not None else None
    mrr = windows.account.mrr_minor if windows.account is not None else 0
    return recency, windows.sum_30.key_actions, mrr


# Built afresh rather than by model_copy: a full recompute makes a million of these, and
# pydantic's compiled constructor is several times cheaper than its copy (or its construct).
def _rounded(score: MeasureScore) -> MeasureScore:
    return MeasureScore(
        measure=score.measure,
        raw=score.raw,
        missing=score.missing,
        sub_score=None if score.sub_score is None else round(score.sub_score, DETAIL_DECIMALS),
        weight=score.weight,
        effective_weight=round(score.effective_weight, DETAIL_DECIMALS),
        contribution=round(score.contribution, DETAIL_DECIMALS),
        lost=round(score.lost, DETAIL_DECIMALS),
    )


def _rounded_driver(driver: Driver) -> Driver:
    return Driver(
        measure=driver.measure,
        lost=round(driver.lost, DETAIL_DECIMALS),
        sub_score=round(driver.sub_score, DETAIL_DECIMALS),
        raw=driver.raw,
    )


def health_change(
    score: float | None, history: Mapping[date, float], as_of: date, days: int
) -> float | None:
    """The shown score minus the latest past score on or before ``as_of - days`` (one
    decimal); None when either is unknown. ``history`` holds the daily scores as shown (one
    decimal), by the day they were for."""
    if score is None:
        return None
    cutoff = as_of - timedelta(days=days)
    earlier = [day for day in history if day <= cutoff]
    if not earlier:
        return None
    return round(display_score(score) - history[max(earlier)], 1)


def override_in_force(override: ColourOverride | None, now: datetime) -> ColourOverride | None:
    """The override while it is in force (its expiry still ahead of ``now``), else None.

    A naive expiry (the contract's ``datetime`` allows one) is read as UTC rather than
    failing the comparison with an aware ``now``.
    """
    if override is None:
        return None
    expires_at = override.expires_at
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    return override if expires_at > now else None


def build_snapshot(
    windows: AccountWindows,
    scorecard: Scorecard,
    breakpoints: RfmBreakpoints,
    *,
    previous_milestones: Mapping[Milestone, date],
    history: Mapping[date, float],
    override: ColourOverride | None,
    now: datetime,
) -> Snapshot | None:
    """The account's snapshot as of ``windows.as_of``, computed at ``now``; None when ingest
    does not know the account.

    ``scorecard`` is the one for the account's motion (its motion and version are recorded);
    ``breakpoints`` the RFM cuts over active accounts; ``previous_milestones`` what the last
    snapshot had reached; ``history`` past daily scores by day; ``override`` the account's
    CSM colour override, if any (applied only while in force).
    """
    account = windows.account
    if account is None:
        return None
    as_of = windows.as_of
    health = score_health(raw_values(windows), scorecard)
    recency, frequency, monetary = rfm_inputs(windows)
    r, f, m = quintiles(recency, frequency, monetary, breakpoints)
    rfm = Rfm(recency_days=recency, frequency=frequency, monetary_minor=monetary, r=r, f=f, m=m)
    seg, rule = segment(windows, health.score, rfm)
    active_seats = windows.active_users_30
    seats = account.seats_purchased
    to_renewal = days_to_renewal(account.renewal_date, as_of)
    in_force = override_in_force(override, now)
    return Snapshot(
        account_id=windows.account_id,
        as_of=as_of,
        computed_at=now,
        scorecard_motion=scorecard.motion,
        scorecard_version=scorecard.version,
        name=account.name,
        motion_segment=account.motion_segment,
        plan=account.plan,
        status=account.status,
        billing_period=account.billing_period,
        currency=account.currency,
        mrr_minor=account.mrr_minor,
        arr_minor=MONTHS_PER_YEAR * account.mrr_minor,
        seats_purchased=seats,
        active_seats=active_seats,
        seat_utilization=active_seats / seats if seats > 0 else None,
        health_score=None if health.score is None else display_score(health.score),
        computed_colour=health.colour,
        colour=in_force.colour if in_force is not None else health.colour,
        override=in_force,
        health_change_7d=health_change(health.score, history, as_of, 7),
        health_change_30d=health_change(health.score, history, as_of, 30),
        measures=[_rounded(s) for s in health.measures],
        drivers=[_rounded_driver(d) for d in health.drivers],
        rfm=rfm,
        segment=seg,
        segment_rule=rule,
        tier=tier(active_seats),
        days_since_contract_start=days_since_contract_start(account.contract_start, as_of),
        days_to_renewal=to_renewal,
        renewal_window=window_for(to_renewal),
        paid_months=windows.paid_months,
        cancel_intent=account.cancel_intent,
        nps=windows.nps.score if windows.nps is not None else None,
        milestones=reached(windows, previous_milestones),
    )


def _at_or_above_90(utilization: float | None) -> bool:
    return utilization is not None and utilization >= SEAT_UTILIZATION_TRIGGER


def changes(previous: Snapshot | None, new: Snapshot) -> list[SnapshotChange]:
    """What changed in a way a program may care about, in the contract's order.

    ``["created"]`` for an account's first snapshot; otherwise each of: segment, tier, colour
    (the colour in force, override included), milestone (one newly reached), renewal_window
    (entering a window, not leaving one), seat_utilization_90 (crossing 0.9 either way),
    cancel_intent, paid_months. [] when nothing of these changed.
    """
    if previous is None:
        return ["created"]
    found: list[SnapshotChange] = []
    if new.segment != previous.segment:
        found.append("segment")
    if new.tier != previous.tier:
        found.append("tier")
    if new.colour != previous.colour:
        found.append("colour")
    if set(new.milestones) - set(previous.milestones):
        found.append("milestone")
    if new.renewal_window is not None and new.renewal_window != previous.renewal_window:
        found.append("renewal_window")
    if _at_or_above_90(new.seat_utilization) != _at_or_above_90(previous.seat_utilization):
        found.append("seat_utilization_90")
    if new.cancel_intent != previous.cancel_intent:
        found.append("cancel_intent")
    if new.paid_months != previous.paid_months:
        found.append("paid_months")
    return found
