"""The console's SQL: its people (it holds no business data)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Boolean, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.console.models import User, UserEvent
from shared.audit import AuditFilter, narrowed

# A user event's place in the audit log: (at, id).
EventPosition = tuple[datetime, int]


async def get_user(session: AsyncSession, name: str) -> User | None:
    """The user of that name, or None."""
    return await session.get(User, name)


def _record(session: AsyncSession, name: str, event: str, by: str, roles: list[str]) -> None:
    session.add(UserEvent(name=name, event=event, principal=by, roles=roles))


async def add_user(
    session: AsyncSession, name: str, password_hash: str, roles: list[str], by: str
) -> bool:
    """Store a new user, recording that ``by`` made them; False (nothing written) when the
    name is taken."""
    row = await session.execute(
        pg_insert(User)
        .values(name=name, password_hash=password_hash, roles=roles)
        .on_conflict_do_nothing()
        .returning(User.name)
    )
    if row.first() is None:
        return False
    _record(session, name, "created", by, roles)
    return True


async def reset_user(
    session: AsyncSession, name: str, password_hash: str, roles: list[str], by: str
) -> None:
    """Create the user, or give an existing one this password and these roles (enabled
    again); recorded as ``by``'s."""
    statement = pg_insert(User).values(name=name, password_hash=password_hash, roles=roles)
    # xmax is 0 on a row this statement inserted, set on one it updated.
    inserted = await session.scalar(
        statement.on_conflict_do_update(
            index_elements=[User.name],
            set_={
                "password_hash": statement.excluded.password_hash,
                "roles": statement.excluded.roles,
                "updated_at": func.now(),
                "disabled_at": None,
            },
        ).returning(literal_column("xmax = 0", Boolean))
    )
    _record(session, name, "created" if inserted else "reset", by, roles)


async def disable_user(session: AsyncSession, name: str, by: str) -> bool:
    """Stop the user signing in, recorded as ``by``'s; False when there is no such user
    (disabling twice keeps the first time and records nothing more)."""
    user = await session.get(User, name, with_for_update=True)
    if user is None:
        return False
    if user.disabled_at is None:
        await session.execute(
            update(User)
            .where(User.name == name)
            .values(disabled_at=func.now(), updated_at=func.now())
        )
        _record(session, name, "disabled", by, list(user.roles))
    return True


async def list_users(session: AsyncSession) -> Sequence[User]:
    """Every user, by name."""
    return (await session.scalars(select(User).order_by(User.name))).all()


async def list_user_events(
    session: AsyncSession, where: AuditFilter, *, before: EventPosition | None, limit: int
) -> Sequence[UserEvent]:
    """Changes to the console's people newest first, before ``before``, narrowed by who
    made them and when."""
    query = narrowed(select(UserEvent), UserEvent.at, UserEvent.principal, where)
    if before is not None:
        query = query.where(func.row(UserEvent.at, UserEvent.id) < func.row(*before))
    query = query.order_by(UserEvent.at.desc(), UserEvent.id.desc()).limit(limit)
    return (await session.scalars(query)).all()
