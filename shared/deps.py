"""FastAPI dependencies shared by every service: the unit of work and the caller.

Each service names its own ``Reader`` and ``Writer`` in its ``api/deps.py``; ``Admin`` is the
same everywhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal, require
from shared.db import unit_of_work


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One unit of work per request: commit on success, roll back on error.

    ``scope="function"`` below makes the commit happen before the response is sent, so a
    client never sees a 2xx for a change that did not commit.
    """
    async with unit_of_work(request.app.state.session_factory) as session:
        yield session


Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


# A caller whose key holds the ``admin`` scope.
Admin = Annotated[Principal, Depends(require("admin"))]
