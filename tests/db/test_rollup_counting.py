"""The rollup SQL counts what ``domain.rollups.aggregate`` (the specification) says it should.

Varied event sets go through the real path (native intake, attribution of users linked
later, and a recount under another event map) on a real PostgreSQL, and every counter
column of ``ingest.daily_rollups`` is compared with ``aggregate`` over the same events: its
counters, ``active_users`` (distinct users) and ``core_features`` (distinct features).
Each example works in one transaction that is rolled back, so it leaves nothing behind.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest.domain.rollups import DEFAULT_EVENT_MAP, Activity, EventMap, aggregate
from services.ingest.models import DailyRollup
from services.ingest.repository import accounts as accounts_repo
from services.ingest.repository import rollups as rollups_repo
from services.ingest.schemas.accounts import AccountFields
from services.ingest.service import events as events_service
from services.ingest.service import intake
from services.ingest.service.config import current_event_map
from services.ingest.service.users import attribute_pending_events
from shared.db import create_engine, service_url, session_factory

ACCOUNTS = 3
USERS = 5
EVENT_IDS = 40  # few enough that ids repeat, within a batch and across batches
FIRST_DAY = datetime(2026, 11, 20, tzinfo=UTC)
DAYS = 4
# Every kind of name of the default map, names in two lists at once, and unmapped names;
# the drawn maps for the recount classify the same names differently.
NAMES = sorted(
    DEFAULT_EVENT_MAP.logins
    | DEFAULT_EVENT_MAP.key_actions
    | set(DEFAULT_EVENT_MAP.core_features)
    | DEFAULT_EVENT_MAP.integrations
    | DEFAULT_EVENT_MAP.api_calls
    | DEFAULT_EVENT_MAP.exports
    | {"page_viewed", "settings_changed"}
)
OFFSETS = [timedelta(0), timedelta(hours=-8), timedelta(hours=5, minutes=30), timedelta(hours=14)]
KEY_COLUMNS = {"account_id", "day"}
ACCOUNT = AccountFields.model_validate(
    {
        "name": "Rollup test",
        "motion_segment": "smb",
        "billing_period": "monthly",
        "mrr_minor": 1,
        "currency": "EUR",
        "seats_purchased": 1,
        "status": "active",
    }
)


@dataclass(frozen=True)
class Sent:
    """One native event as a client sends it (indexes into the example's ids)."""

    event: int
    account: int | None
    user: int | None
    name: str
    at: datetime  # aware, in the client's offset

    def raw(self, prefix: str) -> dict[str, Any]:
        """The JSON object of ``POST /v1/events``."""
        raw: dict[str, Any] = {
            "id": f"{prefix}-e{self.event}",
            "name": self.name,
            "timestamp": self.at.isoformat(),
        }
        if self.account is not None:
            raw["account_id"] = f"{prefix}-a{self.account}"
        if self.user is not None:
            raw["user_id"] = f"{prefix}-u{self.user}"
        return raw


@st.composite
def sent_events(draw: st.DrawFn) -> Sent:
    user = draw(st.none() | st.integers(0, USERS - 1))
    # A native event names an account or a user; one naming only a user waits for its link.
    account = draw(
        st.integers(0, ACCOUNTS - 1) if user is None else st.none() | st.integers(0, ACCOUNTS - 1)
    )
    # Around midnight as often as not, in several offsets: the day is the UTC day.
    seconds = draw(
        st.integers(0, DAYS * 86400 - 1)
        | st.integers(0, DAYS - 1).map(lambda d: d * 86400)
        | st.integers(1, DAYS).map(lambda d: d * 86400 - 1)
    )
    at = (FIRST_DAY + timedelta(seconds=seconds)).astimezone(
        timezone(draw(st.sampled_from(OFFSETS)))
    )
    return Sent(
        draw(st.integers(0, EVENT_IDS - 1)), account, user, draw(st.sampled_from(NAMES)), at
    )


names = st.frozensets(st.sampled_from(NAMES))
event_maps = st.just(DEFAULT_EVENT_MAP) | st.builds(
    EventMap,
    logins=names,
    key_actions=names,
    core_features=st.dictionaries(st.sampled_from(NAMES), st.sampled_from(["f1", "f2", "f3"])),
    integrations=names,
    api_calls=names,
    exports=names,
)


@pytest.fixture(scope="module")
async def factory(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(service_url(database_url, "ingest"))
    yield session_factory(engine)
    await engine.dispose()


def expected(
    activities: list[Activity], event_map: EventMap
) -> dict[tuple[str, date], dict[str, int]]:
    """Every counter column of each (account, day), as the specification has it."""
    return {
        key: {**t.counters, "active_users": len(t.users), "core_features": len(t.features)}
        for key, t in aggregate(activities, event_map).items()
    }


async def stored(session: AsyncSession, prefix: str) -> dict[tuple[str, date], dict[str, int]]:
    """Every counter column of each (account, day) the SQL wrote."""
    rows = await rollups_repo.rollups_for(
        session,
        [f"{prefix}-a{i}" for i in range(ACCOUNTS)],
        FIRST_DAY.date() - timedelta(days=1),
        FIRST_DAY.date() + timedelta(days=DAYS + 1),
    )
    columns = [c.name for c in DailyRollup.__table__.columns if c.name not in KEY_COLUMNS]
    return {(r.account_id, r.day): {c: getattr(r, c) for c in columns} for r in rows}


@settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batches=st.lists(st.lists(sent_events(), min_size=1, max_size=25), min_size=1, max_size=4),
    links=st.lists(st.integers(0, ACCOUNTS - 1), min_size=USERS, max_size=USERS),
    recount_map=event_maps,
)
async def test_every_rollup_counter_agrees_with_the_domain_rule(
    factory: async_sessionmaker[AsyncSession],
    batches: list[list[Sent]],
    links: list[int],
    recount_map: EventMap,
) -> None:
    prefix = f"rc-{uuid.uuid4().hex[:10]}"
    accounts = [f"{prefix}-a{i}" for i in range(ACCOUNTS)]
    async with factory() as session:
        await accounts_repo.upsert_accounts(
            session, [{"external_id": a, **ACCOUNT.model_dump()} for a in accounts]
        )
        now = datetime.now(UTC)
        for batch in batches:  # later batches bring late events for days already rolled up
            parsed = [
                events_service.parse_native(e.raw(prefix), i, now) for i, e in enumerate(batch)
            ]
            result = await intake.accept_events(
                session, parsed=parsed, source_label="native", source_id=None
            )
            assert not result.rejected

        # The first event sent under an id is the one kept; repeats change nothing.
        kept: dict[int, Sent] = {}
        for e in (e for batch in batches for e in batch):
            kept.setdefault(e.event, e)
        event_map = await current_event_map(session)

        def activities(linked: bool) -> list[Activity]:
            out = []
            for e in kept.values():
                account = e.account
                if account is None and linked:
                    assert e.user is not None
                    account = links[e.user]
                if account is not None:
                    user = None if e.user is None else f"{prefix}-u{e.user}"
                    out.append(Activity(f"{prefix}-a{account}", user, e.name, e.at))
            return out

        assert await stored(session, prefix) == expected(activities(False), event_map)

        # Users linked now: their waiting events are attributed and rolled up.
        await attribute_pending_events(
            session, {f"{prefix}-u{u}": f"{prefix}-a{a}" for u, a in enumerate(links)}
        )
        assert await stored(session, prefix) == expected(activities(True), event_map)

        # A recount under another map counts the same events by that map.
        await rollups_repo.rebuild_rollups(session, accounts, recount_map)
        assert await stored(session, prefix) == expected(activities(True), recount_map)
        await session.rollback()
