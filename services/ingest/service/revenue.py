"""Revenue as the account history held it: MRR in force at given instants, many accounts at
once (what offers reads for net revenue retention)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.repository import history as history_repo
from shared.contracts import AccountMrr, MrrAnswer, MrrAt, MrrQuery


async def mrr_at(session: AsyncSession, query: MrrQuery) -> MrrAnswer:
    """Each account's MRR, currency and status in force at each instant (null before its
    history begins), in the order asked."""
    ids = list(dict.fromkeys(query.account_ids))
    values: dict[str, list[MrrAt | None]] = {i: [None] * len(query.at) for i in ids}
    for account_id, index, mrr, currency, status in await history_repo.facts_at(
        session, ids, query.at
    ):
        values[account_id][index] = MrrAt.model_validate(
            {"at": query.at[index], "mrr_minor": mrr, "currency": currency, "status": status}
        )
    return MrrAnswer(accounts=[AccountMrr(account_id=i, values=values[i]) for i in ids])
