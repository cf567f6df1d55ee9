"""Every list endpoint of every service takes only cursors it signed itself.

The lists are found in each service's OpenAPI (every GET with a ``cursor`` parameter), so a
list added later is covered without touching this file.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Platform
from tests.e2e.test_accounts import account, new_id
from tests.e2e.test_ledger import grant

SERVICES = ("ingest", "scoring", "offers", "ledger")
# Values for required parameters of list endpoints, so the cursor is what gets checked.
_REQUIRED = {
    "unit": "USD",
    "from": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
    "to": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
}


async def list_endpoints(client: httpx.AsyncClient) -> list[tuple[str, dict[str, str]]]:
    """(path, required query parameters) of every list endpoint in the service's OpenAPI."""
    spec = (await client.get("/openapi.json")).json()
    found = []
    for path, operations in spec["paths"].items():
        get = operations.get("get")
        if get is None:
            continue
        params = get.get("parameters", [])
        if not any(p["name"] == "cursor" and p["in"] == "query" for p in params):
            continue
        for p in params:
            if p["in"] == "path":
                path = path.replace("{" + p["name"] + "}", "x")
        required = [p["name"] for p in params if p["in"] == "query" and p.get("required")]
        found.append((path, {name: _REQUIRED[name] for name in required}))
    return found


async def real_cursor(client: httpx.AsyncClient) -> str:
    """A genuine cursor this service signed, for its API key list."""
    listed = (await client.get("/v1/api-keys", params={"limit": 1})).json()
    cursor: str = listed["next_cursor"]
    assert cursor
    return cursor


def tamper(cursor: str) -> str:
    """The same signature over another position."""
    forged = base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00","x"]').decode().rstrip("=")
    return f"{forged}.{cursor.partition('.')[2]}"


@pytest.mark.parametrize("service", SERVICES)
async def test_every_list_refuses_cursors_it_did_not_sign(platform: Platform, service: str) -> None:
    async with platform.client(service) as client:
        lists = await list_endpoints(client)
        assert "/v1/api-keys" in [path for path, _ in lists]
        genuine = await real_cursor(client)
        async with platform.client("ingest" if service != "ingest" else "ledger") as other:
            foreign = await real_cursor(other)
        forged = [
            "WzFd",  # base64 of [1]: what crashed the routers
            "%%%nope",
            "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwieCJd." + "A" * 43,
            tamper(genuine),
            genuine[:-3],
            foreign,  # another service's, signed under another key
        ]
        for path, required in lists:
            for cursor in forged + ([] if path == "/v1/api-keys" else [genuine]):
                response = await client.get(path, params={**required, "cursor": cursor})
                assert response.status_code == 400, (path, cursor, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["errors"][0]["parameter"] == "cursor", (path, cursor)


async def page_through(client: httpx.AsyncClient, path: str, key: str, **params: Any) -> list[Any]:
    """Every item of a list, one per page."""
    seen: list[Any] = []
    cursor = None
    while True:
        query = {**params, "limit": 1, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [item[key] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


@pytest.mark.parametrize("service", SERVICES)
async def test_real_cursors_page_through_every_key_once(platform: Platform, service: str) -> None:
    async with platform.client(service) as client:
        whole = [
            k["id"]
            for k in (await client.get("/v1/api-keys", params={"limit": 500})).json()["items"]
        ]
        paged = await page_through(client, "/v1/api-keys", "id")
    assert paged[: len(whole)] == whole  # keys made meanwhile by other tests come last


async def test_real_cursors_page_accounts_and_lots(platform: Platform) -> None:
    marker = new_id("cursor")
    async with platform.client("ingest") as ingest, platform.client("ledger") as ledger:
        ids = [f"{marker}-{n}" for n in range(3)]
        for account_id in ids:
            assert (
                await ingest.put(f"/v1/accounts/{account_id}", json=account())
            ).status_code == 201
        since = (await ingest.get(f"/v1/accounts/{ids[0]}")).json()["updated_at"]
        accounts = await page_through(ingest, "/v1/accounts", "external_id", updated_since=since)
        assert [a for a in accounts if a.startswith(marker)] == ids
        grants = [await grant(ledger, marker, amount) for amount in (100, 200, 300)]
        lots = await page_through(ledger, "/v1/lots", "id", account_id=marker)
    assert len(lots) == 3 == len(set(lots))
    assert [g["lot"]["id"] for g in grants] == lots


async def test_a_cursor_is_bound_to_its_filters_path_and_spelling(platform: Platform) -> None:
    marker = new_id("bound")
    async with platform.client("ledger") as ledger:
        for amount in (100, 200):
            await grant(ledger, marker, amount)
        first = await ledger.get("/v1/lots", params={"account_id": marker, "limit": 1})
        cursor = first.json()["next_cursor"]
        assert cursor
        same = await ledger.get("/v1/lots", params={"account_id": marker, "cursor": cursor})
        assert same.status_code == 200  # the page length may change between pages
        for params in (
            {"account_id": f"{marker}-other", "cursor": cursor, "limit": 1},
            {"cursor": cursor, "limit": 1},
            {"account_id": marker, "cursor": cursor + "==", "limit": 1},
        ):
            refused = await ledger.get("/v1/lots", params=params)
            assert refused.status_code == 400, params
            assert refused.json()["errors"][0]["parameter"] == "cursor"


def text_filters(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(path, parameter, required query parameters) of every optional text filter (a query
    string parameter, the cursor aside) of every list endpoint in an OpenAPI document."""
    found = []
    for path, operations in spec["paths"].items():
        params = (operations.get("get") or {}).get("parameters", [])
        if not any(p["name"] == "cursor" and p["in"] == "query" for p in params):
            continue
        concrete = path
        for p in params:
            if p["in"] == "path":
                concrete = concrete.replace("{" + p["name"] + "}", "x")
        required = {
            p["name"]: _REQUIRED[p["name"]]
            for p in params
            if p["in"] == "query" and p.get("required")
        }
        for p in params:
            schema = p.get("schema", {})
            # Free text: a string with no format (a date, say) and no set of values.
            text = any(
                s.get("type") == "string" and "format" not in s and "enum" not in s
                for s in schema.get("anyOf", [schema])
            )
            if p["in"] == "query" and p["name"] != "cursor" and not p.get("required") and text:
                found.append((concrete, p["name"], required))
    return found


@pytest.mark.parametrize("service", SERVICES)
async def test_every_list_refuses_an_empty_or_overlong_text_filter_by_name(
    platform: Platform, service: str
) -> None:
    async with platform.client(service) as client:
        filters = text_filters((await client.get("/openapi.json")).json())
        assert filters, service
        for path, name, required in filters:
            for value, words in (("", "at least 1 character"), ("x" * 201, "at most 200")):
                answer = await client.get(path, params={**required, name: value})
                assert answer.status_code == 422, (path, name, value[:5], answer.text[:300])
                [error] = answer.json()["errors"]
                assert error["parameter"] == name, (path, error)
                assert words in error["detail"], (path, name, error)
