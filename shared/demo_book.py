"""The demo's synthetic book: accounts with a fact history, their users, events, tickets and
surveys over a period that ends on an anchor day.

Pure and deterministic: the same seed, size, period and anchor day give the same book, with
the same ids, so a second load of it is all duplicates and unchanged upserts.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

Profile = Literal["thriving", "steady", "declining", "dormant"]
Outcome = Literal["renewed", "expanded", "contracted", "churned"]

ACCOUNT_PREFIX = "demo-"
# (profile, share of the book, active-seat ratio range, days between a user's sessions)
PROFILES: tuple[tuple[Profile, float, tuple[float, float], int], ...] = (
    ("thriving", 0.30, (0.85, 1.0), 10),
    ("steady", 0.38, (0.5, 0.8), 14),
    ("declining", 0.22, (0.3, 0.6), 18),
    ("dormant", 0.10, (0.04, 0.15), 30),
)
# Which renewal outcome each profile leans to, so the back-test has a signal to find.
OUTCOME_WEIGHTS: dict[Profile, tuple[tuple[Outcome, int], ...]] = {
    "thriving": (("renewed", 5), ("expanded", 4), ("contracted", 1)),
    "steady": (("renewed", 6), ("expanded", 2), ("contracted", 2), ("churned", 1)),
    "declining": (("renewed", 2), ("contracted", 3), ("churned", 4)),
    "dormant": (("renewed", 1), ("churned", 6)),
}
KEY_ACTIONS = ("report_created", "workflow_run", "dashboard_shared")
# How many of the four core features (reports, dashboards, automation, alerts) an account's
# users take up: breadth is a measure, and four of them make an account expansion-ready.
FEATURES_USED: dict[Profile, tuple[int, int]] = {
    "thriving": (3, 4),
    "steady": (2, 3),
    "declining": (1, 3),
    "dormant": (1, 2),
}
FEATURE_EVENTS = {
    "reports": ("report_created",),
    "dashboards": ("dashboard_viewed", "dashboard_shared"),
    "automation": ("workflow_run",),
    "alerts": ("alert_configured",),
}
# A renewal this many days before the anchor at the latest: past its 7-day grace, final.
LAST_PAST_RENEWAL = 9


@dataclass(frozen=True)
class Version:
    """An account's CRM facts as of ``effective_at`` (a body of ``POST /v1/accounts/batch``)."""

    effective_at: datetime
    facts: dict[str, Any]

    def body(self, account_id: str) -> dict[str, Any]:
        """The batch item."""
        return {"external_id": account_id, **self.facts, "effective_at": _iso(self.effective_at)}


@dataclass
class Account:
    """One synthetic account and everything the demo sends about it."""

    id: str
    profile: Profile
    seats: int
    versions: list[Version] = field(default_factory=list)
    outcome: Outcome | None = None
    users: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    surveys: list[dict[str, Any]] = field(default_factory=list)


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _at(day: date, seconds: int) -> datetime:
    return datetime.combine(day, time(8), UTC) + timedelta(seconds=seconds)


def account_id(index: int) -> str:
    """The demo's id for its ``index``-th account."""
    return f"{ACCOUNT_PREFIX}{index:05d}"


def _rng(seed: int, *parts: object) -> random.Random:
    # One generator per account (and purpose): an account's book does not depend on how many
    # accounts come before it, so a larger book extends a smaller one.
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _pick(rng: random.Random, weighted: tuple[tuple[Any, float | int], ...]) -> Any:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def _shape(rng: random.Random) -> tuple[str, int, int, str, str]:
    """Motion, seats, price per seat (cents a month), billing period and plan."""
    motion = _pick(rng, (("smb", 55), ("mid_market", 30), ("enterprise", 15)))
    if motion == "smb":
        period = _pick(rng, (("monthly", 7), ("annual", 3)))
        return motion, rng.randint(3, 20), rng.randint(2_500, 4_500), period, "team"
    if motion == "mid_market":
        period = _pick(rng, (("monthly", 3), ("annual", 7)))
        return motion, rng.randint(15, 60), rng.randint(4_000, 6_500), period, "business"
    period = _pick(rng, (("annual", 7), ("multi_year", 3)))
    return motion, rng.randint(60, 180), rng.randint(5_500, 8_000), period, "enterprise"


def make_account(seed: int, index: int, anchor: date, days: int) -> Account:
    """The ``index``-th account of the book whose period is the ``days`` days to ``anchor``."""
    rng = _rng(seed, "account", index)
    start = anchor - timedelta(days=days)
    motion, seats, price, period, plan = _shape(rng)
    profile: Profile = _pick(rng, tuple((p, share) for p, share, _r, _g in PROFILES))
    # The first account is never new: its first version marks the period's start, which a
    # second run reads back to find the anchor day the book was first loaded on.
    new_this_period = index > 0 and rng.random() < 0.1 and days > 30
    if new_this_period:
        contract_start = start + timedelta(days=rng.randint(1, days - 20))
    else:
        contract_start = start - timedelta(days=rng.randint(30, 700))
    acct = Account(account_id(index), profile, seats)
    # About a third renew inside the period, late enough that the back-test's lead day (90
    # days before) falls inside it too when the period is long enough.
    earliest_past = max(start + timedelta(days=max(days - 90, 1)), contract_start + timedelta(1))
    latest_past = anchor - timedelta(days=LAST_PAST_RENEWAL)
    renews_in_period = not new_this_period and rng.random() < 0.35 and earliest_past < latest_past
    if renews_in_period:
        renewal = earliest_past + timedelta(days=rng.randint(0, (latest_past - earliest_past).days))
    else:
        renewal = anchor + timedelta(days=rng.randint(1, 330))
    facts: dict[str, Any] = {
        "name": f"Demo {motion.replace('_', ' ').title()} {index:05d}",
        "industry": rng.choice(("software", "retail", "finance", "health", "logistics")),
        "region": rng.choice(("NA", "EMEA", "APAC", "LATAM")),
        "motion_segment": motion,
        "plan": plan,
        "billing_period": period,
        "mrr_minor": seats * price,
        "currency": "USD",
        "seats_purchased": seats,
        "contract_start": contract_start.isoformat(),
        "renewal_date": renewal.isoformat(),
        "status": "active",
        "champion_user_id": f"{acct.id}-u000",
        "cancel_intent": False,
    }
    first_at = _at(max(start, contract_start), index)
    acct.versions.append(Version(first_at, facts))
    if renews_in_period:
        acct.outcome = _pick(rng, OUTCOME_WEIGHTS[profile])
        acct.versions.extend(_renewal_versions(rng, facts, renewal, acct.outcome, first_at))
    elif profile in ("declining", "dormant") and rng.random() < 0.25:
        # A customer who said lately they mean to cancel: the save program's audience.
        noticed = anchor - timedelta(days=rng.randint(3, 20))
        acct.versions.append(Version(_at(noticed, index), {**facts, "cancel_intent": True}))
    _activity(seed, acct, anchor, days, contract_start)
    return acct


def _renewal_versions(
    rng: random.Random, facts: dict[str, Any], renewal: date, outcome: Outcome, first: datetime
) -> list[Version]:
    """What the CRM recorded around a renewal inside the period (the first version at
    ``first``), by its outcome."""
    next_renewal = (renewal + timedelta(days=365)).isoformat()
    decided = first.replace(year=renewal.year, month=renewal.month, day=renewal.day)
    decided += timedelta(days=rng.randint(0, 4))
    if outcome == "churned":
        # The intent is said between the first version and the cancellation.
        intent = max(decided - timedelta(days=rng.randint(10, 40)), first + timedelta(hours=1))
        return [
            Version(intent, {**facts, "cancel_intent": True}),
            Version(decided, {**facts, "cancel_intent": True, "status": "cancelled"}),
        ]
    seats = facts["seats_purchased"]
    if outcome == "expanded":
        seats = seats + max(1, round(seats * rng.uniform(0.1, 0.4)))
    elif outcome == "contracted":
        seats = max(1, seats - max(1, round(seats * rng.uniform(0.1, 0.3))))
    price = facts["mrr_minor"] // facts["seats_purchased"]
    renewed = {
        **facts,
        "seats_purchased": seats,
        "mrr_minor": seats * price,
        "renewal_date": next_renewal,
    }
    return [Version(decided, renewed)]


def _activity(seed: int, acct: Account, anchor: date, days: int, contract_start: date) -> None:
    """Users, events, tickets and surveys of one account over the period."""
    rng = _rng(seed, "activity", acct.id)
    ratio_range, gap = next((r, g) for p, _s, r, g in PROFILES if p == acct.profile)
    ratio = rng.uniform(*ratio_range)
    start = max(anchor - timedelta(days=days), contract_start)
    # A churned account goes quiet once it has cancelled.
    end = anchor
    if acct.outcome == "churned":
        end = acct.versions[-1].effective_at.date()
    span = (end - start).days
    active = max(1, round(acct.seats * ratio))
    acct.users = [f"{acct.id}-u{u:03d}" for u in range(max(active, 1))]
    key_share = {"thriving": 0.6, "steady": 0.45, "declining": 0.3, "dormant": 0.15}[acct.profile]
    # The first feature taken up is always one with a key action, so every profile has some.
    features = ["reports", *rng.sample(["dashboards", "automation", "alerts"], 3)]
    names = [
        n for f in features[: rng.randint(*FEATURES_USED[acct.profile])] for n in FEATURE_EVENTS[f]
    ]
    keyed = [n for n in names if n in KEY_ACTIONS]
    others = [n for n in names if n not in KEY_ACTIONS] or keyed
    for u, user in enumerate(acct.users):
        # A declining account's users drop off through the period, the last ones first.
        stops = span
        if acct.profile == "declining" and u > active // 3:
            stops = rng.randint(span // 3, span) if span > 3 else span
        offset = rng.randint(0, gap - 1)
        for n, day_offset in enumerate(range(offset, stops, gap)):
            day = start + timedelta(days=day_offset)
            roll = rng.random()
            if roll < key_share:
                name = rng.choice(keyed)
            elif roll < key_share + 0.15:
                name = rng.choice(others)
            else:
                name = "login"
            acct.events.append(_event(acct.id, user, f"{u}-{n}", name, _at(day, u * 37 + n)))
    if acct.profile in ("thriving", "steady") and span > 2:
        day = start + timedelta(days=rng.randint(0, span - 1))
        acct.events.append(
            _event(acct.id, acct.users[0], "int", "integration_connected", _at(day, 5))
        )
    _support(rng, acct, start, end)


def _event(account: str, user: str, key: str, name: str, at: datetime) -> dict[str, Any]:
    return {
        "id": f"{account}-e{key}",
        "account_id": account,
        "user_id": user,
        "name": name,
        "timestamp": _iso(at),
    }


def _support(rng: random.Random, acct: Account, start: date, end: date) -> None:
    """Tickets (opened, most of them closed) and NPS and CSAT responses."""
    span = max((end - start).days, 1)
    troubled = acct.profile in ("declining", "dormant")
    for t in range(rng.choice((0, 0, 1, 2) if troubled else (0, 0, 0, 1))):
        opened = _at(start + timedelta(days=rng.randint(0, span - 1)), t)
        severity = rng.choice(("medium", "high", "urgent") if troubled else ("low", "medium"))
        ticket = {"ticket_id": f"{acct.id}-t{t}", "account_id": acct.id, "severity": severity}
        acct.tickets.append({**ticket, "status": "open", "occurred_at": _iso(opened)})
        closed = opened + timedelta(days=rng.randint(1, 12))
        if rng.random() < (0.5 if troubled else 0.9) and closed.date() < end:
            acct.tickets.append({**ticket, "status": "closed", "occurred_at": _iso(closed)})
    if rng.random() < 0.45:
        low, high = {"thriving": (8, 10), "steady": (6, 9), "declining": (3, 7)}.get(
            acct.profile, (0, 5)
        )
        responded = _at(start + timedelta(days=rng.randint(0, span - 1)), 99)
        acct.surveys.append(
            {
                "id": f"{acct.id}-nps",
                "account_id": acct.id,
                "user_id": acct.users[0],
                "kind": "nps",
                "score": rng.randint(low, high),
                "responded_at": _iso(responded),
            }
        )
    if rng.random() < 0.15:
        responded = _at(start + timedelta(days=rng.randint(0, span - 1)), 98)
        acct.surveys.append(
            {
                "id": f"{acct.id}-csat",
                "account_id": acct.id,
                "kind": "csat",
                "score": rng.randint(1, 3) if troubled else rng.randint(3, 5),
                "responded_at": _iso(responded),
            }
        )


def book(seed: int, accounts: int, anchor: date, days: int) -> Iterator[Account]:
    """Every account of the book, in id order."""
    for index in range(accounts):
        yield make_account(seed, index, anchor, days)
