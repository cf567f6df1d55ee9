"""What scoring reads from ingest: window aggregates, a batch of accounts per call."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import httpx

from shared.contracts import ACCOUNTS_PER_QUERY, Outcome, WindowsPage, WindowsQuery
from shared.errors import DependencyUnavailable
from shared.http import RetryableStatus, ServiceClient

WINDOWS_PATH = "/v1/signals/windows"


class IngestUnavailable(DependencyUnavailable):
    """Ingest could not answer: the worker tries its batch again later (nothing is lost); a
    request that needed it is a 503 to send again."""


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
    response = await _read(client, WINDOWS_PATH, query.model_dump(mode="json", exclude_none=True))
    return WindowsPage.model_validate_json(response.content)


OUTCOMES_PATH = "/v1/outcomes/query"


async def read_outcomes(
    client: ServiceClient,
    renewal_from: date,
    renewal_to: date,
    account_ids: Sequence[str] | None = None,
) -> list[Outcome]:
    """The renewal outcomes dated in the range, page after page: of ``account_ids`` (asked
    in chunks ingest takes), or of every account when None."""
    if account_ids is None:
        return await _outcomes(client, {}, renewal_from, renewal_to)
    outcomes: list[Outcome] = []
    for start in range(0, len(account_ids), ACCOUNTS_PER_QUERY):
        chunk = {"account_ids": list(account_ids[start : start + ACCOUNTS_PER_QUERY])}
        outcomes += await _outcomes(client, chunk, renewal_from, renewal_to)
    return outcomes


async def _outcomes(
    client: ServiceClient, named: dict[str, Any], renewal_from: date, renewal_to: date
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    cursor: str | None = None
    while True:
        body: dict[str, Any] = {
            **named,
            "renewal_from": renewal_from.isoformat(),
            "renewal_to": renewal_to.isoformat(),
            "limit": 500,
            **({"after": cursor} if cursor else {}),
        }
        page = (await _read(client, OUTCOMES_PATH, body)).json()
        outcomes += [Outcome.model_validate(o) for o in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            return outcomes


async def _read(client: ServiceClient, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST a query to ingest (a read: safe to retry however often it takes); 200 or raise."""
    try:
        response = await client.request("POST", path, idempotent=True, json=body)
    except (httpx.HTTPError, RetryableStatus) as exc:
        raise IngestUnavailable(f"ingest did not answer {path}: {exc}") from exc
    if response.status_code != 200:
        raise IngestUnavailable(
            f"ingest answered {response.status_code} to {path}: {response.text[:300]}"
        )
    return response
