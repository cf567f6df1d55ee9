"""Recording every change of an account's tracked facts, in the transaction that makes it.

Writers call in here: CRM upserts (``upsert_recorded``) and applied billing changes
(``record_billing``). Only real changes make rows: facts equal to those in force at the
change's effective time add nothing.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.billing import crm_sets
from services.ingest.domain.history import (
    TRACKED_FIELDS,
    Recorded,
    changes,
    in_force,
    is_latest,
)
from services.ingest.models import Account, AccountHistory
from services.ingest.repository import accounts as accounts_repo
from services.ingest.repository import history as history_repo


def recorded(row: AccountHistory | Row[Any]) -> Recorded:
    """A history row (or a row of its ``effective_at`` and tracked facts) as the rules read
    it."""
    return Recorded(row.effective_at, {name: getattr(row, name) for name in TRACKED_FIELDS})


def _row(
    account_id: str,
    effective_at: datetime,
    source: str,
    event_id: str | None,
    facts: Mapping[str, Any],
    diff: dict[str, Any],
) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "effective_at": effective_at,
        "source": source,
        "event_id": event_id,
        **facts,
        "changes": diff,
    }


def _place(history: list[Recorded], row: Recorded) -> None:
    """Insert ``row`` after every row effective at or before it (ids grow with inserts)."""
    at = bisect.bisect_right([r.effective_at for r in history], row.effective_at)
    history.insert(at, row)


async def upsert_recorded(
    session: AsyncSession, versions: Sequence[tuple[dict[str, Any], datetime | None]]
) -> dict[str, bool]:
    """Upsert CRM accounts and record their fact changes; returns, per account id, whether
    it was created.

    ``versions`` are account rows (``external_id`` and every CRM field) in request order,
    each with the time it took effect (None: now, read from the database once the accounts'
    locks are held, so concurrent writers' changes take effect in the order they are made).
    Per account the versions are taken in effective order (the last among equal times last);
    each is compared with the facts in force at its time. The account itself takes the newest
    version, unless the account's history already holds facts newer than it: then newer
    facts are in force, and the version (a backfill of the past) is only recorded where it
    belongs in the history.
    """

    ids = sorted({values["external_id"] for values, _at in versions})
    await history_repo.lock_accounts(session, ids)
    accounts = await history_repo.accounts_for_update(session, ids)
    now = await history_repo.database_now(session)
    by_id: dict[str, list[tuple[datetime, int, dict[str, Any]]]] = {}
    for index, (values, effective_at) in enumerate(versions):
        by_id.setdefault(values["external_id"], []).append((effective_at or now, index, values))
    rows = await history_repo.history_since(session, {i: min(v[0] for v in by_id[i]) for i in ids})
    new_rows: list[dict[str, Any]] = []
    upserts: list[dict[str, Any]] = []
    for account_id in ids:
        account = accounts.get(account_id)
        current = tracked_facts(account) if account is not None else None
        billing_updated_at = account.billing_updated_at if account is not None else None
        history = [recorded(r) for r in rows[account_id]]
        newest_stored = history[-1].effective_at if history else None
        ordered = sorted(by_id[account_id], key=lambda v: (v[0], v[1]))
        for effective_at, _index, values in ordered:
            base = in_force(history, effective_at)
            before = base.facts if base is not None else (None if history else current)
            after = {
                name: values[name]
                if before is None or crm_sets(name, billing_updated_at)
                else before[name]
                for name in TRACKED_FIELDS
            }
            diff = changes(before, after)
            if diff:
                _place(history, Recorded(effective_at, after))
                new_rows.append(_row(account_id, effective_at, "crm", None, after, diff))
        newest_at, _index, newest = ordered[-1]
        if account is None or newest_stored is None or newest_at >= newest_stored:
            upserts.append(newest)
    flags = await accounts_repo.upsert_accounts(session, upserts) if upserts else []
    await history_repo.insert_rows(session, new_rows)
    created = {row["external_id"]: flag for row, flag in zip(upserts, flags, strict=True)}
    return {i: created.get(i, False) for i in ids}


def tracked_facts(account: Account) -> dict[str, Any]:
    """An account's tracked facts as it holds them now."""
    return {name: getattr(account, name) for name in TRACKED_FIELDS}


async def record_billing(
    session: AsyncSession,
    account: Account,
    *,
    occurred_at: datetime,
    before_change: Mapping[str, Any],
    fields: Mapping[str, Any],
    source: str,
    event_id: str | None,
) -> None:
    """Record a billing change just applied to ``account`` (whose tracked facts were
    ``before_change``), at the time it occurred.

    It is compared with the facts in force then. Rows effective after it (CRM changes
    recorded before this event arrived) take its billing-owned facts, as the account did.
    """
    after_change = tracked_facts(account)
    if after_change == dict(before_change):
        return
    account_id = account.external_id
    history = [
        recorded(r)
        for r in (await history_repo.history_since(session, {account_id: occurred_at}))[account_id]
    ]
    base = in_force(history, occurred_at)
    if base is not None:
        before: Mapping[str, Any] = base.facts
    else:  # before the history starts: the earliest facts known are the best guess
        before = history[0].facts if history else before_change
    owned = {k: v for k, v in fields.items() if k in TRACKED_FIELDS}
    after = {**before, **owned}
    diff = changes(before, after) or changes(before_change, after_change)
    await history_repo.insert_rows(
        session, [_row(account_id, occurred_at, source, event_id, after, diff)]
    )
    if not is_latest(history, occurred_at):
        await history_repo.follow_billing(session, account_id, occurred_at, owned)
