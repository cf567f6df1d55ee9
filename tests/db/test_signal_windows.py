"""Window aggregates (``POST /v1/signals/windows``) hold to a hand count of a made history.

Three accounts get rows written straight into ingest's tables around a fixed ``as_of``
(today, passed in): days just in and just out of every window, a day after ``as_of`` that
nothing may count, 20 users active on each of 30 days, paid invoices across a year
boundary. Every field of every answer is compared with what the rules in
``repository/windows.py`` say, counted by hand below. Each test works in one transaction
that is rolled back, so it leaves nothing behind.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest.models import (
    Account,
    DailyActiveUser,
    DailyFeature,
    DailyRollup,
    SurveyResponse,
    Ticket,
)
from services.ingest.repository import accounts as accounts_repo
from services.ingest.service import windows as service
from shared.contracts import (
    AccountFacts,
    AccountWindows,
    Counters,
    SeenDates,
    Survey,
    WindowsPage,
    WindowsQuery,
)
from shared.db import create_engine, service_url, session_factory
from shared.errors import Unprocessable

T = datetime.now(UTC).date()  # as_of of every call; every day below is relative to it


def ago(days: int) -> date:
    return T - timedelta(days=days)


AFTER = T + timedelta(days=1)  # after as_of: nothing on it may be counted
# Paid invoices across a year boundary, all at least 90 days before as_of (so outside every
# window whatever today is): the January a year earlier, November, two days of one
# December, the January after it. Four calendar months.
YEAR = ago(90).year
PAID_DAYS = [
    date(YEAR - 1, 1, 2),
    date(YEAR - 1, 11, 30),
    date(YEAR - 1, 12, 15),
    date(YEAR - 1, 12, 31),
    date(YEAR, 1, 1),
]
FIELDS: dict[str, Any] = {
    "name": "Windows test",
    "motion_segment": "mid_market",
    "plan": "growth",
    "billing_period": "annual",
    "mrr_minor": 125_000,
    "currency": "EUR",
    "seats_purchased": 25,
    "contract_start": ago(400),
    "renewal_date": T + timedelta(days=100),
    "status": "active",
    "cancel_intent": False,
}
COUNTERS = list(Counters.model_fields)
# Account A's rollup rows: day -> counters (the rest 0). Columns: see COUNTERS.
A_ROLLUPS: dict[date, dict[str, int]] = {
    T: {"events": 5, "logins": 2, "key_actions": 1, "api_calls": 3, "exports": 1,
        "tickets_opened": 1},
    ago(6): {"events": 4, "logins": 1, "key_actions": 2, "tickets_closed": 1},  # in 7
    ago(7): {"events": 10, "key_actions": 1, "integrations": 2},  # out of 7, in 30
    ago(29): {"events": 3, "exports": 2, "invoices_paid": 1},  # in 30
    ago(30): {"events": 7, "logins": 1, "key_actions": 1},  # out of 30, in 60
    ago(59): {"events": 1, "key_actions": 1, "payment_failures": 1},  # in 60
    ago(60): {"events": 100, "key_actions": 1, "integrations": 5},  # out of 60
    ago(200): {"events": 1, "logins": 1},
    AFTER: {"events": 1000, "logins": 1, "key_actions": 1, "integrations": 50,
            "invoices_paid": 1},
}  # fmt: skip
# Account A's active users: user -> days. ann in weeks 0 and 1, bob (the champion) on the
# first day out of the 7-day window, cat on the last day of the 30-day window, dan on the
# first day out of it (week 4 still), eve in week 7 (days as_of-55..as_of-49), fay on the
# first day past week 7, gus long ago.
A_USERS: dict[str, list[date]] = {
    "ann": [T, ago(6), ago(13), AFTER],
    "bob": [ago(7), AFTER],
    "cat": [ago(29)],
    "dan": [ago(30)],
    "eve": [ago(55)],
    "fay": [ago(56)],
    "gus": [ago(100)],
}
A_FEATURES: dict[str, list[date]] = {
    "reports": [T, ago(1), ago(6)],
    "dashboards": [ago(7)],
    "exports": [ago(29)],
    "alerts": [ago(30)],
    "future": [AFTER],
}


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


@pytest.fixture(scope="module")
async def factory(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(service_url(database_url, "ingest"))
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def session(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with factory() as session:
        yield session
        await session.rollback()


async def make_history(session: AsyncSession) -> dict[str, str]:
    """Accounts a, b, c (and an id no account has), their rows; returns their ids."""
    prefix = f"win-{uuid.uuid4().hex[:10]}"
    ids = {k: f"{prefix}-{k}" for k in ("a", "b", "c", "unknown")}
    a, b, c = ids["a"], ids["b"], ids["c"]
    await accounts_repo.upsert_accounts(
        session,
        [
            {"external_id": a, **FIELDS, "champion_user_id": "bob"},
            {"external_id": b, **FIELDS, "champion_user_id": "never-seen"},
            {"external_id": c, **FIELDS, "champion_user_id": None, "plan": None},
        ],
    )
    rollups = [{"account_id": a, "day": d, **counts} for d, counts in A_ROLLUPS.items()]
    rollups += [{"account_id": b, "day": d, "invoices_paid": 1} for d in [*PAID_DAYS, AFTER]]
    users = [{"account_id": a, "day": d, "user_id": u} for u, days in A_USERS.items() for d in days]
    # b: the same 20 users on each of the 30 days of the window, one more on the day before.
    users += [
        {"account_id": b, "day": ago(i), "user_id": f"u{n}"} for i in range(30) for n in range(20)
    ]
    users += [
        {"account_id": b, "day": ago(30), "user_id": "late"},
        {"account_id": c, "day": AFTER, "user_id": "x"},
    ]
    features = [
        {"account_id": a, "day": d, "feature": f} for f, days in A_FEATURES.items() for d in days
    ]
    features += [
        {"account_id": b, "day": ago(i), "feature": f"f{n}"} for i in range(30) for n in range(3)
    ]
    tickets = [
        (a, "high", "open"),
        (a, "high", "open"),
        (a, "low", "open"),
        (a, "urgent", "closed"),
        (c, "medium", "closed"),
    ]
    surveys = [
        (a, "nps", 9, datetime.combine(T, time(23, 59, 59), tzinfo=UTC)),  # the newest in
        (a, "nps", 3, datetime.combine(AFTER, time(), tzinfo=UTC)),  # as_of's end: out
        (a, "nps", 5, noon(ago(10))),
        (a, "csat", 4, noon(ago(3))),
        (a, "csat", 2, noon(ago(40))),
        (c, "csat", 1, noon(AFTER)),
    ]
    await session.execute(insert(DailyRollup), rollups)
    await session.execute(insert(DailyActiveUser), users)
    await session.execute(insert(DailyFeature), features)
    await session.execute(
        insert(Ticket),
        [
            {
                "ticket_id": f"{prefix}-t{i}",
                "account_id": account,
                "severity": severity,
                "status": status,
                "opened_at": noon(ago(5)),
                "closed_at": noon(ago(1)) if status == "closed" else None,
                "updated_at": noon(ago(1)),
            }
            for i, (account, severity, status) in enumerate(tickets)
        ],
    )
    await session.execute(
        insert(SurveyResponse),
        [
            {"id": f"{prefix}-s{i}", "account_id": acc, "kind": k, "score": s, "responded_at": at}
            for i, (acc, k, s, at) in enumerate(surveys)
        ],
    )
    return ids


def facts(account_id: str, **changes: Any) -> AccountFacts:
    return AccountFacts.model_validate({"external_id": account_id, **FIELDS, **changes})


NO_SEEN = {k: SeenDates() for k in ("events", "logins", "key_actions", "integrations")}
NO_TICKETS = {"low": 0, "medium": 0, "high": 0, "urgent": 0}


def empty(account_id: str, account: AccountFacts | None) -> AccountWindows:
    """An account with no rows of any kind: zeros and nulls."""
    return AccountWindows(
        account_id=account_id,
        as_of=T,
        account=account,
        sum_7=Counters(),
        sum_30=Counters(),
        sum_60=Counters(),
        integrations_total=0,
        active_users_7=0,
        active_users_30=0,
        core_features_7=0,
        core_features_30=0,
        seen=NO_SEEN,
        key_action_days=0,
        weekly_active_users=[0] * 8,
        champion_last_active=None,
        paid_months=0,
        open_tickets=NO_TICKETS,
        nps=None,
        csat=None,
    )


def expected(ids: dict[str, str]) -> dict[str, AccountWindows]:
    """Every field of each account's answer, counted by hand from the rows above."""
    a, b, c = ids["a"], ids["b"], ids["c"]
    account_a = AccountWindows(
        account_id=a,
        as_of=T,
        account=facts(a, champion_user_id="bob"),
        # as_of and as_of-6
        sum_7=Counters(
            events=9,
            logins=3,
            key_actions=3,
            api_calls=3,
            exports=1,
            tickets_opened=1,
            tickets_closed=1,
        ),
        # ... and as_of-7, as_of-29
        sum_30=Counters(
            events=22,
            logins=3,
            key_actions=4,
            integrations=2,
            api_calls=3,
            exports=3,
            tickets_opened=1,
            tickets_closed=1,
            invoices_paid=1,
        ),
        # ... and as_of-30, as_of-59
        sum_60=Counters(
            events=30,
            logins=4,
            key_actions=6,
            integrations=2,
            api_calls=3,
            exports=3,
            tickets_opened=1,
            tickets_closed=1,
            payment_failures=1,
            invoices_paid=1,
        ),
        integrations_total=7,  # as_of-7 and as_of-60, not the day after as_of
        active_users_7=1,  # ann
        active_users_30=3,  # ann, bob, cat
        core_features_7=1,  # reports
        core_features_30=3,  # reports, dashboards, exports
        seen={
            "events": SeenDates(first=ago(200), last=T),
            "logins": SeenDates(first=ago(200), last=T),
            "key_actions": SeenDates(first=ago(60), last=T),
            "integrations": SeenDates(first=ago(60), last=ago(7)),
        },
        key_action_days=(1 << 0) | (1 << 6) | (1 << 7) | (1 << 30) | (1 << 59),
        # week 0 ann; 1 ann (as_of-13), bob; 4 cat, dan; 7 eve
        weekly_active_users=[1, 2, 0, 0, 2, 0, 0, 1],
        champion_last_active=ago(7),
        paid_months=1,
        open_tickets={"low": 1, "medium": 0, "high": 2, "urgent": 0},
        nps=Survey(score=9, responded_at=datetime.combine(T, time(23, 59, 59), tzinfo=UTC)),
        csat=Survey(score=4, responded_at=noon(ago(3))),
    )
    account_b = empty(b, facts(b, champion_user_id="never-seen")).model_copy(
        update={
            "active_users_7": 20,
            "active_users_30": 20,  # not 600, and not "late" (as_of-30)
            "core_features_7": 3,
            "core_features_30": 3,
            # weeks 0-3 the 20; week 4 (as_of-34..as_of-28) has 2 of their days, and late's
            "weekly_active_users": [20, 20, 20, 20, 21, 0, 0, 0],
            "paid_months": 4,
        }
    )
    return {
        a: account_a,
        b: account_b,
        c: empty(c, facts(c, champion_user_id=None, plan=None)),
        ids["unknown"]: empty(ids["unknown"], None),
    }


async def test_every_field_holds_to_the_hand_count(session: AsyncSession) -> None:
    ids = await make_history(session)
    want = expected(ids)
    a, b, c, unknown = ids["a"], ids["b"], ids["c"], ids["unknown"]
    page = await service.signal_windows(
        session, WindowsQuery(account_ids=[b, unknown, a, b, c], as_of=T)
    )
    # Request order, repeats answered once (the first), an unknown id answered all the same.
    assert [w.account_id for w in page.accounts] == [b, unknown, a, c]
    assert page.next_after is None
    for got in page.accounts:
        assert got == want[got.account_id], got.account_id


async def test_as_of_moves_every_window(session: AsyncSession) -> None:
    ids = await make_history(session)
    a = ids["a"]
    page = await service.signal_windows(session, WindowsQuery(account_ids=[a], as_of=ago(1)))
    got = page.accounts[0]
    assert got.as_of == ago(1)
    # Days as_of-1 .. as_of-7: as_of-6 and as_of-7 (as_of itself is now after the window).
    assert got.sum_7 == Counters(events=14, logins=1, key_actions=3, integrations=2,
                                 tickets_closed=1)  # fmt: skip
    assert got.key_action_days == (1 << 5) | (1 << 6) | (1 << 29) | (1 << 58) | (1 << 59)
    assert got.active_users_7 == 2  # ann (as_of-6), bob (as_of-7)
    assert got.core_features_7 == 2  # reports (as_of-1, as_of-6), dashboards (as_of-7)
    assert got.seen["events"] == SeenDates(first=ago(200), last=ago(6))
    assert got.nps == Survey(score=5, responded_at=noon(ago(10)))


async def test_as_of_defaults_to_today(session: AsyncSession) -> None:
    ids = await make_history(session)
    before = datetime.now(UTC).date()
    page = await service.signal_windows(session, WindowsQuery(account_ids=[ids["a"]]))
    assert page.accounts[0].as_of in {before, datetime.now(UTC).date()}


async def test_after_with_account_ids_is_refused_naming_after(session: AsyncSession) -> None:
    with pytest.raises(Unprocessable) as refused:
        await service.signal_windows(session, WindowsQuery(account_ids=["x"], after="w"))
    assert [e.pointer for e in refused.value.errors] == ["/after"]


async def walk(session: AsyncSession, limit: int) -> list[WindowsPage]:
    """Every page of a walk over all accounts, following next_after to its end."""
    pages = [await service.signal_windows(session, WindowsQuery(limit=limit, as_of=T))]
    while pages[-1].next_after is not None:
        query = WindowsQuery(limit=limit, after=pages[-1].next_after, as_of=T)
        pages.append(await service.signal_windows(session, query))
    return pages


async def test_paging_walks_all_accounts_in_id_order(session: AsyncSession) -> None:
    ids = await make_history(session)
    want = expected(ids)
    every = list(await session.scalars(select(Account.external_id).order_by(Account.external_id)))
    assert len(every) >= 3

    pages = await walk(session, 2)
    # Full pages continue from their last id; the walk ends on the first page not full.
    for page in pages[:-1]:
        assert len(page.accounts) == 2
        assert page.next_after == page.accounts[-1].account_id
    assert len(pages[-1].accounts) < 2
    assert pages[-1].next_after is None
    walked = [w for page in pages for w in page.accounts]
    assert [w.account_id for w in walked] == every
    # A walk answers an account as naming it does.
    mine = {w.account_id: w for w in walked if w.account_id in want}
    assert mine == {k: v for k, v in want.items() if k != ids["unknown"]}

    # All on one full page: it still says where to go on, and the next page is empty.
    exact = await walk(session, len(every))
    assert [len(p.accounts) for p in exact] == [len(every), 0]
    assert exact[0].next_after == every[-1]
    # One more than there are: a single page, the last.
    assert [len(p.accounts) for p in await walk(session, len(every) + 1)] == [len(every)]

    # after: the page starts at the next account in id order.
    a = ids["a"]
    resumed = await service.signal_windows(session, WindowsQuery(after=a, limit=1, as_of=T))
    assert [w.account_id for w in resumed.accounts] == [every[every.index(a) + 1]]
    assert resumed.next_after == every[every.index(a) + 1]
