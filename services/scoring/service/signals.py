"""What scoring reads from ingest: window aggregates, a batch of accounts per call."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import httpx

from shared.contracts import WindowsPage, WindowsQuery
from shared.http import RetryableStatus, ServiceClient

WINDOWS_PATH = "/v1/signals/windows"


class IngestUnavailable(Exception):
    """Ingest could not answer; the batch is tried again later (nothing is lost)."""


async def read_windows(
    client: ServiceClient,
    as_of: date,
    *,
    account_ids: Sequence[str] | None = None,
    after: str | None = None,
    limit: int = 1000,
) -> WindowsPage:
    """One page of window aggregates: the named accounts, or all accounts after ``after``."""
    query = WindowsQuery(
        account_ids=list(account_ids) if account_ids else None,
        after=None if account_ids else after,
        limit=limit,
        as_of=as_of,
    )
    try:
        # A read: safe to retry however often it takes.
        response = await client.request(
            "POST",
            WINDOWS_PATH,
            idempotent=True,
            content=query.model_dump_json(exclude_none=True),
            headers={"Content-Type": "application/json"},
        )
    except (httpx.HTTPError, RetryableStatus) as exc:
        raise IngestUnavailable(f"ingest did not answer: {exc}") from exc
    if response.status_code != 200:
        raise IngestUnavailable(
            f"ingest answered {response.status_code} to {WINDOWS_PATH}: {response.text[:300]}"
        )
    return WindowsPage.model_validate_json(response.content)
