"""Signals for scoring: account facts, rollups and support state, many accounts at once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.repository import accounts as accounts_repo
from services.ingest.repository import rollups as rollups_repo
from services.ingest.repository import support as support_repo
from services.ingest.schemas.accounts import AccountOut
from services.ingest.schemas.signals import (
    AccountSignals,
    AccountSupport,
    RollupOut,
    SignalsQuery,
    SignalsResponse,
    SurveyLatest,
)


async def query_signals(session: AsyncSession, query: SignalsQuery) -> SignalsResponse:
    """Account facts plus the last ``days`` rollups for each account, in one round trip."""
    last_day = query.as_of or datetime.now(UTC).date()
    first_day: date = last_day - timedelta(days=query.days - 1)
    ids = list(dict.fromkeys(query.account_ids))
    accounts = await accounts_repo.accounts_by_id(session, ids)
    rollups: dict[str, list[RollupOut]] = {i: [] for i in ids}
    for row in await rollups_repo.rollups_for(session, ids, first_day, last_day):
        rollups[row.account_id].append(RollupOut.model_validate(row))
    tickets = await support_repo.open_tickets(session, ids)
    surveys = await support_repo.latest_surveys(session, ids)

    def latest(account_id: str, kind: str) -> SurveyLatest | None:
        row = surveys.get((account_id, kind))
        return None if row is None else SurveyLatest(score=row.score, responded_at=row.responded_at)

    return SignalsResponse(
        accounts=[
            AccountSignals(
                account_id=i,
                account=AccountOut.model_validate(accounts[i]) if i in accounts else None,
                support=AccountSupport(
                    open_tickets=tickets.get(i, {}), nps=latest(i, "nps"), csat=latest(i, "csat")
                ),
                rollups=rollups[i],
            )
            for i in ids
        ]
    )
