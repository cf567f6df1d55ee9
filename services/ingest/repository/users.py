"""Users' SQL: CRM upserts, identify/group traits, aliases and account links."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import User, UserAlias
from shared.arrays import text_array

USER_FIELDS = ("account_id", "email", "name", "role", "traits")


async def upsert_users(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[bool]:
    """Insert or update users by external id; returns, per row, whether it was created."""
    stmt = insert(User).values(list(rows))
    upsert = stmt.on_conflict_do_update(
        index_elements=[User.external_id],
        set_={**{f: stmt.excluded[f] for f in USER_FIELDS}, "updated_at": func.now()},
    ).returning(text("(xmax = 0) AS created"))
    return list((await session.execute(upsert)).scalars())


async def merge_user_traits(
    session: AsyncSession, user_id: str, traits: dict[str, Any], account_id: str | None
) -> None:
    """Create a user from an identify/group call, or merge new traits into it."""
    stmt = insert(User).values(external_id=user_id, traits=traits, account_id=account_id)
    stmt = stmt.on_conflict_do_update(
        index_elements=[User.external_id],
        set_={
            "traits": User.traits.op("||")(stmt.excluded.traits),
            "account_id": func.coalesce(stmt.excluded.account_id, User.account_id),
            "updated_at": func.now(),
        },
    )
    await session.execute(stmt)


async def aliases_of(session: AsyncSession, ids: Iterable[str]) -> dict[str, str]:
    """The user each of these ids was aliased to (Segment ``alias``), for those that were."""
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = await session.execute(
        select(UserAlias.previous_id, UserAlias.user_id).where(
            UserAlias.previous_id == func.any(text_array(wanted))
        )
    )
    return {previous: user for previous, user in rows.all()}


async def record_aliases(session: AsyncSession, aliases: dict[str, str]) -> None:
    """Keep alias calls (previous id -> user); a later alias of the same id wins."""
    stmt = insert(UserAlias).values(
        [{"previous_id": p, "user_id": u} for p, u in sorted(aliases.items())]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[UserAlias.previous_id], set_={"user_id": stmt.excluded.user_id}
        )
    )


async def get_user(session: AsyncSession, external_id: str) -> User | None:
    """One user, or None."""
    return await session.get(User, external_id)


async def list_users(
    session: AsyncSession,
    *,
    account_id: str | None,
    updated_since: datetime | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[User]:
    """Users in (updated_at, external_id) order, filtered."""
    query = select(User).order_by(User.updated_at, User.external_id).limit(limit)
    if account_id is not None:
        query = query.where(User.account_id == account_id)
    if updated_since is not None:
        query = query.where(User.updated_at >= updated_since)
    if after is not None:
        query = query.where(func.row(User.updated_at, User.external_id) > func.row(*after))
    return (await session.scalars(query)).all()


async def user_accounts(session: AsyncSession, user_ids: Iterable[str]) -> dict[str, str]:
    """The account each of ``user_ids`` belongs to, for those linked to one."""
    wanted = list(set(user_ids))
    if not wanted:
        return {}
    rows = await session.execute(
        select(User.external_id, User.account_id).where(
            User.external_id == func.any(text_array(wanted)), User.account_id.is_not(None)
        )
    )
    return {user: account for user, account in rows.all() if account is not None}
