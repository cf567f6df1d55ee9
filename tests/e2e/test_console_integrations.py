"""The integrations page over HTTP: a source's last event and counts, a rejected event
listed and replayed, a parked outbox message retried by an admin, and a viewer told why not
instead of the buttons."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import unquote

import httpx
from sqlalchemy import func, insert

from services.ingest.models import Outbox as IngestOutbox
from shared.db import create_engine
from tests.conftest import Platform
from tests.console_support import csrf_of, make_person, signed_in
from tests.e2e.test_accounts import account, new_id
from tests.e2e.test_segment import basic
from tests.support import ServiceProcess


def row(html: str, row_id: str) -> str:
    """One table row of the page, whitespace squeezed."""
    found = re.search(rf'<tr id="{re.escape(row_id)}">.*?</tr>', html, re.S)
    assert found, f"no row {row_id} on the page"
    return re.sub(r"\s+", " ", found.group(0))


def numbers(html_row: str) -> list[int]:
    """The numeric cells of a row, in order."""
    return [int(n) for n in re.findall(r'<td class="number">(\d+)</td>', html_row)]


async def source_row(client: httpx.AsyncClient, source_id: str) -> str:
    """A source's row, following the page's "Newer sources" links until it is there."""
    url = "/integrations"
    while True:
        page = await client.get(url)
        assert page.status_code == 200, page.text
        if f'id="source-{source_id}"' in page.text:
            return row(page.text, f"source-{source_id}")
        more = re.search(r'href="(/integrations\?sources_cursor=[^"]+)">Newer sources', page.text)
        assert more, f"source {source_id} is not listed"
        url = unquote(more.group(1)).replace("&amp;", "&")


def track(account_id: str) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": f"m-{uuid.uuid4().hex}",
        "userId": "u1",
        "event": "login",
        "context": {"groupId": account_id},
    }


async def test_an_admin_sees_a_sources_activity_and_replays_its_rejected_event(
    platform: Platform, console: ServiceProcess, ingest: httpx.AsyncClient
) -> None:
    admin = await make_person(platform.database_url, "admin")
    created = (await ingest.post("/v1/sources", json={"kind": "segment", "name": "web app"})).json()
    known = new_id("known")
    assert (await ingest.put(f"/v1/accounts/{known}", json=account())).status_code in (200, 201)
    late = new_id("late")  # its account does not exist yet: the event is refused
    async with httpx.AsyncClient(
        base_url=platform.ingest.url, headers=basic(created["write_key"])
    ) as sender:
        sent = await sender.post("/v1/batch", json={"batch": [track(known), track(late)]})
    assert sent.json()["accepted"] == 1, sent.text

    client = await signed_in(console.url, admin)
    try:
        source = await source_row(client, created["id"])
        assert "web app" in source
        assert "receiving" in source or "refusing" in source
        assert numbers(source) == [1, 1, 1]  # 24 h, 7 days, refused 24 h
        assert "UTC" in source  # the last event's time

        label = f"segment:{created['id']}"
        listing = await client.get("/integrations", params={"source": label, "reason": late})
        rejected = re.findall(r'<tr id="rejected-(\d+)">', listing.text)
        assert len(rejected) == 1, listing.text
        rejected_id = rejected[0]
        assert late in row(listing.text, f"rejected-{rejected_id}")
        assert "web app (segment)" in row(listing.text, f"rejected-{rejected_id}")

        # Replayed before its account exists: refused again, and the page says why.
        form = {"csrf_token": csrf_of(listing.text), "source": label, "reason": late}
        again = await client.post(f"/integrations/rejected/{rejected_id}/replay", data=form)
        assert again.status_code == 422
        assert "refused again" in row(again.text, f"rejected-{rejected_id}")
        assert late in row(again.text, f"rejected-{rejected_id}")

        assert (await ingest.put(f"/v1/accounts/{late}", json=account())).status_code in (200, 201)
        replayed = await client.post(f"/integrations/rejected/{rejected_id}/replay", data=form)
        assert replayed.status_code == 303
        after = await client.get(replayed.headers["location"])
        assert f"Rejected event {rejected_id} replayed: accepted." in after.text
        assert f'id="rejected-{rejected_id}"' not in after.text
    finally:
        await client.aclose()
    kept = (await ingest.get("/v1/rejected", params={"reason_contains": late})).json()["items"]
    assert [r["resolved_at"] is not None for r in kept] == [True]


async def parked_message(database_url: str) -> int:
    """A message ingest's outbox parked (its receiver refused it), as its id."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            inserted = await conn.execute(
                insert(IngestOutbox)
                .values(
                    message_id=uuid.uuid4(),
                    destination="scoring",
                    topic="accounts.changed",
                    payload={"account_ids": [new_id("parked")]},
                    attempts=3,
                    last_error="HTTP 422: refused by the receiver",
                    parked_at=func.now(),
                )
                .returning(IngestOutbox.id)
            )
            return int(inserted.scalar_one())
    finally:
        await engine.dispose()


async def test_an_admin_retries_a_parked_outbox_message(
    platform: Platform, console: ServiceProcess, ingest: httpx.AsyncClient
) -> None:
    admin = await make_person(platform.database_url, "admin")
    entry = await parked_message(platform.database_url)
    client = await signed_in(console.url, admin)
    try:
        page = await client.get("/integrations")
        parked = row(page.text, f"outbox-ingest-{entry}")
        assert "refused by the receiver" in parked
        assert "accounts.changed" in parked
        retried = await client.post(
            f"/integrations/outbox/ingest/{entry}/retry", data={"csrf_token": csrf_of(page.text)}
        )
        assert retried.status_code == 303
        after = await client.get(retried.headers["location"])
        assert f"Outbox message {entry} of ingest put back in line for delivery." in after.text
        assert f'id="outbox-ingest-{entry}"' not in after.text
        # Retrying it again: it is no longer parked, and ingest's words say so.
        twice = await client.post(
            f"/integrations/outbox/ingest/{entry}/retry", data={"csrf_token": csrf_of(page.text)}
        )
        assert twice.status_code == 404
        assert f"No parked outbox message {entry}" in twice.text
    finally:
        await client.aclose()
    still = (await ingest.get("/v1/outbox", params={"parked": "true", "limit": 500})).json()
    assert entry not in [m["id"] for m in still["items"]]


async def test_a_viewer_sees_why_not_instead_of_the_buttons(
    platform: Platform, console: ServiceProcess, ingest: httpx.AsyncClient
) -> None:
    viewer = await make_person(platform.database_url, "viewer")
    entry = await parked_message(platform.database_url)
    late = new_id("viewer-late")
    async with httpx.AsyncClient(base_url=platform.ingest.url) as sender:
        created = (await ingest.post("/v1/sources", json={"kind": "segment", "name": "v"})).json()
        sent = await sender.post(
            "/v1/batch", json={"batch": [track(late)]}, headers=basic(created["write_key"])
        )
    assert sent.json()["rejected"], sent.text
    client = await signed_in(console.url, viewer)
    try:
        page = await client.get("/integrations", params={"reason": late})
        assert page.status_code == 200
        assert "Sources are listed to admins only" in page.text
        assert "You cannot see or retry these" in page.text
        assert "You cannot replay these" in page.text
        assert "You cannot replay in bulk" in page.text
        rejected_id = re.findall(r'<tr id="rejected-(\d+)">', page.text)[0]
        assert "needs admin" in row(page.text, f"rejected-{rejected_id}")
        assert ">Replay</button>" not in page.text
        assert ">Retry</button>" not in page.text
        # Hand-made posts are refused by the services themselves, in their words.
        token = csrf_of(page.text)
        replay = await client.post(
            f"/integrations/rejected/{rejected_id}/replay",
            data={"csrf_token": token, "reason": late},
        )
        assert replay.status_code == 403
        assert 'role="alert"' in row(replay.text, f"rejected-{rejected_id}")
        retry = await client.post(
            f"/integrations/outbox/ingest/{entry}/retry", data={"csrf_token": token}
        )
        assert retry.status_code == 403
        assert 'role="alert"' in retry.text
    finally:
        await client.aclose()
    parked = (await ingest.get("/v1/outbox", params={"parked": "true", "limit": 500})).json()
    assert entry in [m["id"] for m in parked["items"]]
