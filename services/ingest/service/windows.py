"""Window aggregates for scoring: per account, as of a UTC day, computed where the rows are.

Scoring reads these rather than every daily row (100,000 accounts of 90 days are 9 million
rows): a page of up to 1,000 accounts costs five statements, whatever its size.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, get_args

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import Account, SurveyResponse
from services.ingest.repository import accounts as accounts_repo
from services.ingest.repository import support as support_repo
from services.ingest.repository import windows as windows_repo
from services.ingest.repository.windows import SEEN_KINDS, WEEKS, WINDOW_COUNTERS
from shared.contracts import (
    AccountFacts,
    AccountWindows,
    Counters,
    SeenDates,
    Survey,
    TicketSeverity,
    WindowsPage,
    WindowsQuery,
)
from shared.errors import Unprocessable

SEVERITIES: tuple[TicketSeverity, ...] = get_args(TicketSeverity)


async def signal_windows(session: AsyncSession, query: WindowsQuery) -> WindowsPage:
    """Named accounts in request order (first of repeats; an unknown id answered with no
    facts and zero aggregates), or the next page of all accounts in id order."""
    if query.account_ids is not None and query.after is not None:
        raise Unprocessable.for_field(
            "/after", "after continues a walk over all accounts; give it without account_ids"
        )
    as_of = query.as_of or datetime.now(UTC).date()
    next_after: str | None = None
    if query.account_ids is not None:
        ids = list(dict.fromkeys(query.account_ids))
        accounts = await accounts_repo.accounts_by_id(session, ids)
    else:
        page = await windows_repo.accounts_after(session, query.after, query.limit)
        accounts = {a.external_id: a for a in page}
        ids = list(accounts)
        if len(ids) == query.limit:
            next_after = ids[-1]
    known = [i for i in ids if i in accounts]
    rollups = await windows_repo.rollup_windows(session, known, as_of)
    activity = await windows_repo.activity_windows(session, known, as_of)
    tickets = await support_repo.open_tickets(session, known) if known else {}
    # Responses up to as_of: before the UTC midnight that ends it.
    before = datetime.combine(as_of + timedelta(days=1), time(), tzinfo=UTC)
    surveys = await support_repo.latest_surveys(session, known, before=before) if known else {}
    return WindowsPage(
        accounts=[
            _windows(
                i,
                as_of,
                accounts.get(i),
                rollups.get(i, {}),
                activity.get(i, {}),
                tickets.get(i, {}),
                surveys.get((i, "nps")),
                surveys.get((i, "csat")),
            )
            for i in ids
        ],
        next_after=next_after,
    )


def _windows(
    account_id: str,
    as_of: date,
    account: Account | None,
    rollups: dict[str, Any],
    activity: dict[str, Any],
    tickets: dict[str, int],
    nps: SurveyResponse | None,
    csat: SurveyResponse | None,
) -> AccountWindows:
    """One account's answer from its rows of each statement (none: zeros and nulls)."""

    def count(row: dict[str, Any], column: str) -> int:
        return int(row.get(column) or 0)

    def counters(days: int) -> Counters:
        return Counters(**{c: count(rollups, f"{c}_{days}") for c in WINDOW_COUNTERS})

    def survey(row: SurveyResponse | None) -> Survey | None:
        return None if row is None else Survey(score=row.score, responded_at=row.responded_at)

    return AccountWindows(
        account_id=account_id,
        as_of=as_of,
        account=None if account is None else AccountFacts.model_validate(account),
        sum_7=counters(7),
        sum_30=counters(30),
        sum_60=counters(60),
        integrations_total=count(rollups, "integrations_total"),
        active_users_7=count(activity, "active_users_7"),
        active_users_30=count(activity, "active_users_30"),
        core_features_7=count(activity, "core_features_7"),
        core_features_30=count(activity, "core_features_30"),
        seen={
            kind: SeenDates(first=rollups.get(f"{kind}_first"), last=rollups.get(f"{kind}_last"))
            for kind in SEEN_KINDS
        },
        key_action_days=count(rollups, "key_action_days"),
        weekly_active_users=[count(activity, f"week_{k}") for k in range(WEEKS)],
        champion_last_active=activity.get("champion_last_active"),
        paid_months=count(rollups, "paid_months"),
        open_tickets={s: tickets.get(s, 0) for s in SEVERITIES},
        nps=survey(nps),
        csat=survey(csat),
    )
