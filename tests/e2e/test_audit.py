"""The audit logs: offers' (programs and offers) and scoring's (scorecards and overrides),
newest first, narrowed by who and when, walked by cursor; and the console's merged page."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shared.cli import create_key_at
from tests.conftest import Platform
from tests.console_support import make_person, pending_credit, signed_in
from tests.e2e.test_scoring import busy_account, eventually, iso, snapshot_of
from tests.support import ServiceProcess


async def walk(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every entry of a service's audit log, one a page."""
    found: list[dict[str, Any]] = []
    query: dict[str, Any] = {**params, "limit": 1}
    while True:
        answer = await client.get("/v1/audit", params=query)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        found += page["items"]
        if not page["next_cursor"]:
            return found
        query["cursor"] = page["next_cursor"]


async def test_offers_audit_says_who_approved_and_who_rejected_newest_first(
    platform: Platform,
) -> None:
    owner = await make_person(platform.database_url, "product")
    credit = await pending_credit(platform, owner)
    other = await pending_credit(platform, owner)
    name = f"auditor-{uuid.uuid4().hex[:6]}"
    _k, key = await create_key_at(platform.database_url, name, ["offers:approve", "offers:read"])
    started = datetime.now(UTC) - timedelta(seconds=1)
    async with platform.client("offers", key) as offers:
        approve = {"comment": "fine by me"}
        assert (await offers.post(f"/v1/offers/{credit.offer_id}/approve", json=approve)).is_success
        reject = {"comment": "not this one"}
        assert (await offers.post(f"/v1/offers/{other.offer_id}/reject", json=reject)).is_success
        mine = await walk(offers, principal=name)
        assert [(e["kind"], e["subject"], e["summary"]) for e in mine] == [
            ("offer.rejected", other.offer_id, "not this one"),
            ("offer.approval", credit.offer_id, "fine by me"),
        ]
        assert mine[1]["detail"] == {"slot": "approver", "state": "pending_approval"}
        assert all(e["service"] == "offers" for e in mine)
        # The program's own story is there too: created, then approved to go live.
        since = await walk(offers, **{"from": started.isoformat()})
        assert {e["principal"] for e in since} >= {name}
        program = [e["kind"] for e in await walk(offers) if e["subject"] == credit.program_id]
        assert program[-2:] == ["program.approved", "program.created"]
        # Narrowed to nothing, a range the wrong way round, a cursor from elsewhere.
        assert await walk(offers, **{"to": started.isoformat(), "principal": name}) == []
        wrong = {"from": started.isoformat(), "to": (started - timedelta(days=1)).isoformat()}
        assert (await offers.get("/v1/audit", params=wrong)).status_code == 422
        assert (await offers.get("/v1/audit", params={"cursor": "nope"})).status_code == 400
        assert (await offers.get("/v1/audit", params={"from": "yesterday"})).status_code == 422


async def test_scoring_audit_says_who_set_and_cleared_an_override(
    platform: Platform, ingest: httpx.AsyncClient, scoring: httpx.AsyncClient
) -> None:
    account_id = await busy_account(ingest)
    snap = await eventually(lambda: snapshot_of(scoring, account_id), lambda s: s is not None)
    name = f"csm-{uuid.uuid4().hex[:6]}"
    _k, key = await create_key_at(platform.database_url, name, ["scores:write", "scores:read"])
    colour = "red" if snap["computed_colour"] != "red" else "green"
    body = {
        "colour": colour,
        "reason": "champion left",
        "expires_at": iso(datetime.now(UTC) + timedelta(days=14)),
    }
    async with platform.client("scoring", key) as as_csm:
        assert (await as_csm.post(f"/v1/scores/{account_id}/override", json=body)).is_success
        assert (await as_csm.delete(f"/v1/scores/{account_id}/override")).is_success
        mine = await walk(as_csm, principal=name)
    assert [(e["kind"], e["subject"], e["summary"]) for e in mine] == [
        ("override.cleared", account_id, "champion left"),
        ("override.set", account_id, "champion left"),
    ]
    assert mine[1]["detail"]["colour"] == colour
    assert all(e["service"] == "scoring" for e in mine)


async def test_the_console_merges_every_log_and_exports_it(
    platform: Platform, console: ServiceProcess
) -> None:
    owner = await make_person(platform.database_url, "product")
    approver = await make_person(platform.database_url, "approver")
    credit = await pending_credit(platform, owner, account_name="=cmd|' /C calc'!A0")
    client = await signed_in(console.url, approver)
    try:
        page = await client.get("/inbox")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        form = {"csrf_token": token, "decision": "reject", "comment": '=HYPERLINK("x")'}
        assert (
            await client.post(f"/offers/{credit.offer_id}/decide", data=form)
        ).status_code == 303
        shown = await client.get("/audit", params={"principal": approver.name})
        assert shown.status_code == 200
        assert "offer.rejected" in shown.text
        assert f'href="/offers/{credit.offer_id}"' in shown.text
        exported = await client.get("/audit.csv", params={"principal": approver.name})
        assert exported.headers["content-type"].startswith("text/csv")
        lines = exported.text.splitlines()
        assert lines[0] == "at,service,kind,principal,subject,summary"
        [row] = lines[1:]
        assert f",offers,offer.rejected,{approver.name},{credit.offer_id}," in row
        assert row.endswith('"\'=HYPERLINK(""x"")"')  # a formula is text in a spreadsheet
        bad = await client.get("/audit", params={"from": "yesterday"})
        assert bad.status_code == 422
    finally:
        await client.aclose()
