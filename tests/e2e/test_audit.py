"""The audit logs: offers' (programs and offers), scoring's (scorecards and overrides) and
the key store's (keys, sign-ins), newest first, narrowed by who and when, walked by cursor;
and the console's merged page with its people's changes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from services.console.service.users import disable_user
from shared.cli import create_key_at
from shared.db import create_engine, standalone_unit_of_work
from shared.key_audit import UNRECORDED
from tests.conftest import Platform
from tests.console_support import make_person, pending_credit, signed_in
from tests.e2e.test_scoring import busy_account, eventually, iso, snapshot_of
from tests.support import ServiceProcess


async def walk(
    client: httpx.AsyncClient, path: str = "/v1/audit", **params: Any
) -> list[dict[str, Any]]:
    """Every entry of an audit log, one a page."""
    found: list[dict[str, Any]] = []
    query: dict[str, Any] = {**params, "limit": 1}
    while True:
        answer = await client.get(path, params=query)
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


async def test_the_key_store_says_who_made_and_ended_each_key(platform: Platform) -> None:
    since = iso(datetime.now(UTC) - timedelta(seconds=1))
    holder = f"crm-{uuid.uuid4().hex[:8]}"
    # An admin of its own, made by the operator: its changes are the only ones by it.
    _key, raw = await create_key_at(platform.database_url, f"keeper-{holder}", ["admin"])
    async with platform.client("ingest", raw) as keeper:
        wanted = {"principal": holder, "scopes": ["ledger:read"]}
        made = await keeper.post("/v1/api-keys", json=wanted)
        assert made.status_code == 201, made.text
        key = made.json()
        assert key["created_by"] == f"keeper-{holder}"
        ended = await keeper.delete(f"/v1/api-keys/{key['id']}")
        assert ended.json()["revoked_by"] == f"keeper-{holder}"
        again = await keeper.delete(f"/v1/api-keys/{key['id']}")
        assert again.json()["revoked_at"] == ended.json()["revoked_at"]  # the first time kept
        by_keeper = await walk(keeper, "/v1/api-keys/audit", principal=f"keeper-{holder}")
    # Any service serves the one key store's log.
    async with platform.client("scoring") as admin:
        since_then = await walk(admin, "/v1/api-keys/audit", **{"from": since})
        empty = await admin.get("/v1/api-keys/audit", params={"from": since, "to": since})
        forged = await admin.get("/v1/api-keys/audit", params={"cursor": "not-a-cursor"})
    subject = f"key {key['display_prefix']} of {holder}"
    assert [(e["kind"], e["principal"], e["subject"]) for e in by_keeper] == [
        ("key.revoked", f"keeper-{holder}", subject),
        ("key.created", f"keeper-{holder}", subject),
    ]
    assert by_keeper[1]["detail"] == {"key_id": key["id"], "scopes": ["ledger:read"]}
    assert all(e["service"] == "keys" for e in by_keeper)
    # The keeper itself was made by the operator's command line.
    keeper_made = [e for e in since_then if e["subject"].endswith(f" of keeper-{holder}")]
    assert [(e["kind"], e["principal"]) for e in keeper_made] == [("key.created", "tenure")]
    assert (empty.status_code, forged.status_code) == (422, 400)
    _r, reader = await create_key_at(platform.database_url, holder, ["offers:read"])
    async with platform.client("offers", reader) as not_admin:
        assert (await not_admin.get("/v1/api-keys/audit")).status_code == 403


async def test_a_key_whose_maker_was_not_recorded_says_so_and_can_be_found(
    platform: Platform,
) -> None:
    since = iso(datetime.now(UTC) - timedelta(seconds=1))
    name = f"old-{uuid.uuid4().hex[:8]}"
    old, _raw = await create_key_at(platform.database_url, name, ["ledger:read"])
    engine = create_engine(platform.database_url)
    try:
        async with engine.begin() as conn:  # as a key made before auth_0004 is
            await conn.execute(
                text("UPDATE auth.api_keys SET created_by = NULL WHERE id = :i"), {"i": old.id}
            )
    finally:
        await engine.dispose()
    async with platform.client("ledger") as admin:
        found = await walk(admin, "/v1/api-keys/audit", principal=UNRECORDED, **{"from": since})
        # A field the key API does not take is refused by name, never dropped.
        asked = {"principal": "crm", "scopes": ["ledger:read"], "expires_at": since}
        refused = await admin.post("/v1/api-keys", json=asked)
    assert [(e["kind"], e["principal"]) for e in found if e["detail"]["key_id"] == str(old.id)] == [
        ("key.created", "(not recorded)")
    ]
    assert refused.status_code == 422
    assert [e["pointer"] for e in refused.json()["errors"]] == ["/expires_at"]


async def test_the_console_log_has_sign_ins_and_its_people(
    platform: Platform, console: ServiceProcess
) -> None:
    since = iso(datetime.now(UTC) - timedelta(seconds=1))
    admin = await make_person(platform.database_url, "admin")
    viewer = await make_person(platform.database_url, "viewer")
    as_viewer = await signed_in(console.url, viewer)
    try:
        for_viewer = await as_viewer.get("/audit")
        token = for_viewer.text.split('name="csrf_token" value="')[1].split('"')[0]
        assert (await as_viewer.post("/sign-out", data={"csrf_token": token})).status_code == 303
    finally:
        await as_viewer.aclose()
    async with standalone_unit_of_work(platform.database_url) as session:
        await disable_user(session, viewer.name)
    client = await signed_in(console.url, admin)
    try:
        mine = await client.get("/audit", params={"principal": admin.name, "from": since})
        theirs = await client.get("/audit", params={"principal": viewer.name, "from": since})
        operator = await client.get("/audit.csv", params={"principal": "tenure", "from": since})
        forged = await client.get("/audit", params={"people_cursor": "x.y"})
    finally:
        await client.aclose()
    # A viewer is told what they do not see.
    assert for_viewer.status_code == 200
    assert "Not shown to you: keys, people" in for_viewer.text
    assert "session.started" in mine.text
    assert "session.started" in theirs.text
    assert "session.ended" in theirs.text
    rows = operator.text.splitlines()[1:]
    assert any(f",console,user.created,tenure,{admin.name}," in r for r in rows)
    assert any(f",console,user.disabled,tenure,{viewer.name}," in r for r in rows)
    assert forged.status_code == 400
    assert "The cursor is not valid" in forged.text


async def test_ingest_audit_says_who_changed_sources_the_map_and_replayed(
    platform: Platform,
) -> None:
    ops = f"ops-{uuid.uuid4().hex[:8]}"
    _key, raw = await create_key_at(platform.database_url, ops, ["admin"])
    async with platform.client("ingest", raw) as ingest:
        made = (await ingest.post("/v1/sources", json={"kind": "stripe", "name": ops})).json()
        source = made["id"]
        assert (await ingest.post(f"/v1/sources/{source}/rotate")).status_code == 200
        for _ in range(2):  # the second disable changes nothing and is not recorded
            assert (await ingest.post(f"/v1/sources/{source}/disable")).status_code == 200
        in_force = (await ingest.get("/v1/config/event-map")).json()
        stamps = ("version", "created_at", "created_by")
        document = {k: v for k, v in in_force.items() if k not in stamps}
        again = (await ingest.put("/v1/config/event-map", json=document)).json()
        replay = {"source": f"webhook:{source}", "limit": 5}
        assert (await ingest.post("/v1/rejected/replay", json=replay)).status_code == 200
        rebuilt = await ingest.post("/v1/rollups/rebuild", json={"account_ids": [f"no-{ops}"]})
        assert rebuilt.status_code == 200, rebuilt.text
        mine = await walk(ingest, principal=ops)
    assert [(e["kind"], e["subject"]) for e in mine] == [
        ("rollups.rebuilt", "named accounts"),
        ("rejected.replayed", f"webhook:{source}"),
        ("event_map.changed", f"event map v{again['version']}"),
        ("source.disabled", source),
        ("source.rotated", source),
        ("source.created", source),
    ]
    assert all(e["service"] == "ingest" and e["principal"] == ops for e in mine)
    assert mine[1]["detail"] == {**replay, "accepted": 0, "duplicates": 0, "refused": 0}
    assert mine[5]["detail"] == {"kind": "stripe", "name": ops}
    # No secret is ever in the log.
    assert made["signing_secret"] not in str(mine)
