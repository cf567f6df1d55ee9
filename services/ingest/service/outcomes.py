"""Reading account history back, and the renewal outcomes derived from it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.outcomes import renewal_outcomes
from services.ingest.models import AccountHistory
from services.ingest.repository import accounts as accounts_repo
from services.ingest.repository import history as history_repo
from services.ingest.schemas.history import (
    AccountHistoryPage,
    HistoryEntry,
    HistoryFacts,
    OutcomesQuery,
)
from services.ingest.service.history import recorded
from shared.contracts import Outcome
from shared.errors import BadRequest, FieldError, NotFound, Unprocessable
from shared.pagination import CursorSigner, Page, PageRequest

HistoryPosition = tuple[datetime, int]  # (effective_at, id)
OutcomePosition = tuple[str, date]  # (account_id, renewal_date)
_OUTCOME_POSITION: TypeAdapter[OutcomePosition] = TypeAdapter(OutcomePosition)


def _today() -> date:
    return datetime.now(UTC).date()


def _entry(row: AccountHistory) -> HistoryEntry:
    return HistoryEntry(
        id=row.id,
        account_id=row.account_id,
        effective_at=row.effective_at,
        source=row.source,
        event_id=row.event_id,
        facts=HistoryFacts.model_validate(row),
        changes=row.changes,
        recorded_at=row.recorded_at,
    )


async def account_history(
    session: AsyncSession, account_id: str, page: PageRequest[HistoryPosition]
) -> AccountHistoryPage:
    """A page of an account's fact changes (oldest first) and all its renewal outcomes."""
    if await accounts_repo.get_account(session, account_id) is None:
        raise NotFound(f"No account '{account_id}'.")
    rows = await history_repo.history_page(session, account_id, page.after, page.limit + 1)
    listed = page.page(rows, _entry, lambda r: (r.effective_at, r.id))
    whole = (await history_repo.histories(session, [account_id]))[account_id]
    outcomes = renewal_outcomes(account_id, [recorded(r) for r in whole], _today())
    return AccountHistoryPage(items=listed.items, next_cursor=listed.next_cursor, outcomes=outcomes)


def _criteria(query: OutcomesQuery) -> None:
    if query.account_ids is None and query.renewal_from is None and query.renewal_to is None:
        detail = "give account_ids, a renewal range (renewal_from, renewal_to), or both"
        raise Unprocessable(
            f"Nothing to query: {detail}.",
            errors=[
                FieldError(detail=detail, pointer=f"/{name}")
                for name in ("account_ids", "renewal_from", "renewal_to")
            ],
        )
    if (
        query.renewal_from is not None
        and query.renewal_to is not None
        and query.renewal_from > query.renewal_to
    ):
        raise Unprocessable.for_field("/renewal_to", "must not be before renewal_from")


def _page_request(query: OutcomesQuery, signer: CursorSigner) -> PageRequest[OutcomePosition]:
    """The page a body asks for; its cursor (``after``) is bound to the body's criteria."""
    criteria: list[Any] = [
        sorted(set(query.account_ids)) if query.account_ids is not None else None,
        query.renewal_from.isoformat() if query.renewal_from else None,
        query.renewal_to.isoformat() if query.renewal_to else None,
    ]
    scope = f"POST /v1/outcomes/query?{orjson.dumps(criteria).decode()}"
    after = None
    if query.after is not None:
        try:
            after = _OUTCOME_POSITION.validate_python(signer.open(scope, query.after))
        except (BadRequest, ValidationError) as exc:
            raise BadRequest(
                "The cursor is not valid: not a cursor of this query. Use the next_cursor of a"
                " previous page as it is, with the same account_ids and range.",
                errors=[FieldError(detail="not a cursor of this query", pointer="/after")],
            ) from exc
    return PageRequest(
        after=after, limit=query.limit, scope=scope, signer=signer, adapter=_OUTCOME_POSITION
    )


async def query_outcomes(
    session: AsyncSession, query: OutcomesQuery, signer: CursorSigner
) -> Page[Outcome]:
    """Outcomes of the named accounts, or of the accounts whose history held a renewal date
    in the range, in (account, renewal date) order, a page at a time (only dates before today
    have one).

    Accounts are taken a page at a time (as many as the page may hold outcomes, plus one):
    one query for their ids, one for all their history.
    """
    _criteria(query)
    page = _page_request(query, signer)
    today = _today()
    chunk = page.limit + 1
    found: list[Outcome] = []
    start, inclusive = (page.after[0], True) if page.after is not None else (None, False)
    while len(found) <= page.limit:
        ids = await history_repo.accounts_with_renewals(
            session,
            account_ids=query.account_ids,
            renewal_from=query.renewal_from,
            renewal_to=query.renewal_to,
            before=today,
            start=start,
            inclusive=inclusive,
            limit=chunk,
        )
        histories = await history_repo.histories(session, ids)
        for account_id in ids:
            for outcome in renewal_outcomes(
                account_id, [recorded(r) for r in histories[account_id]], today
            ):
                if _wanted(outcome, query, page.after):
                    found.append(outcome)
        if len(ids) < chunk:
            break
        start, inclusive = ids[-1], False
    return page.page(found, lambda o: o, lambda o: (o.account_id, o.renewal_date))


def _wanted(outcome: Outcome, query: OutcomesQuery, after: OutcomePosition | None) -> bool:
    if query.renewal_from is not None and outcome.renewal_date < query.renewal_from:
        return False
    if query.renewal_to is not None and outcome.renewal_date > query.renewal_to:
        return False
    return after is None or (outcome.account_id, outcome.renewal_date) > after
