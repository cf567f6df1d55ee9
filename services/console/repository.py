"""The console's SQL: its people (it holds no business data)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.console.models import User


async def get_user(session: AsyncSession, name: str) -> User | None:
    """The user of that name, or None."""
    return await session.get(User, name)


async def add_user(session: AsyncSession, name: str, password_hash: str, roles: list[str]) -> bool:
    """Store a new user; False (nothing written) when the name is taken."""
    row = await session.execute(
        pg_insert(User)
        .values(name=name, password_hash=password_hash, roles=roles)
        .on_conflict_do_nothing()
        .returning(User.name)
    )
    return row.first() is not None


async def reset_user(
    session: AsyncSession, name: str, password_hash: str, roles: list[str]
) -> None:
    """Create the user, or give an existing one this password and these roles."""
    statement = pg_insert(User).values(name=name, password_hash=password_hash, roles=roles)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[User.name],
            set_={
                "password_hash": statement.excluded.password_hash,
                "roles": statement.excluded.roles,
                "updated_at": func.now(),
                "disabled_at": None,
            },
        )
    )


async def list_users(session: AsyncSession) -> Sequence[User]:
    """Every user, by name."""
    return (await session.scalars(select(User).order_by(User.name))).all()
