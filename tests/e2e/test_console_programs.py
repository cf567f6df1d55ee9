"""The console's programs pages over HTTP, on real processes: the list with its budget
figures, a program's versions and what an edit changed, the editor's trigger check, dry run,
simulation and save (a live program keeps running while its new version waits), and who may
do what."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from services.console.domain.programs import form_values
from shared.db import create_engine
from tests.conftest import Platform
from tests.console_support import csrf_of, make_person, pending_credit, signed_in
from tests.support import ServiceProcess


def flat(html: str) -> str:
    """The page with its whitespace runs made single spaces."""
    return re.sub(r"\s+", " ", html)


def row(html: str, program_id: str) -> str:
    """The list's row of one program."""
    found = re.search(rf'<tr id="program-{program_id}">.*?</tr>', html, re.S)
    assert found, f"program {program_id} is not listed"
    return flat(found.group(0))


async def program_json(platform: Platform, program_id: str) -> dict[str, Any]:
    async with platform.client("offers") as offers:
        answer = await offers.get(f"/v1/programs/{program_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def editor_form(client: httpx.AsyncClient, program_id: str, **changes: str) -> dict[str, str]:
    """The editor's fields as the page fills them (the newest version), with ``changes``."""
    page = await client.get(f"/programs/{program_id}/edit")
    assert page.status_code == 200, page.text
    return {"csrf_token": csrf_of(page.text), **changes}


async def definition_fields(platform: Platform, program_id: str, **changes: str) -> dict[str, str]:
    """The form fields of the program's live (else pending) definition, with ``changes``."""
    program = await program_json(platform, program_id)
    shown = program["live"] or program["pending"]
    return {**form_values(shown["definition"]), **changes}


async def test_the_list_shows_each_program_with_its_budget_figures(
    platform: Platform, console: ServiceProcess
) -> None:
    owner = await make_person(platform.database_url, "product")
    credit = await pending_credit(platform, owner, value=150_000)
    client = await signed_in(console.url, await make_person(platform.database_url, "viewer"))
    try:
        page = await client.get("/programs")
    finally:
        await client.aclose()
    assert page.status_code == 200, page.text
    mine = row(page.text, credit.program_id)
    assert "active" in mine
    assert "version 1" in mine
    # One offer awaiting approval reserves 1,500.00 of the 10,000.00 cap; nothing spent.
    assert "Spent 0.00 USD (dark blue), reserved 1,500.00 USD (light blue)" in mine
    assert "cap of 10,000.00 USD: 15.0 % used, 8,500.00 USD left" in mine
    assert "pending approval: 1" in mine
    assert '<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Spent' in mine
    # The run-out date is the API's own.
    async with platform.client("offers") as offers:
        summary = (await offers.get("/v1/programs/summary", params={"limit": 500})).json()
    ours = next(p for p in summary["items"] if p["id"] == credit.program_id)
    assert ours["reserved_minor"] == 150_000
    assert ours["budget_cap_minor"] == 1_000_000
    assert ours["budget_runs_out_on"] is not None
    assert ours["budget_runs_out_on"] in mine


async def test_saving_a_live_program_keeps_it_running_and_the_page_shows_what_changed(
    platform: Platform, console: ServiceProcess
) -> None:
    owner = await make_person(platform.database_url, "product")
    credit = await pending_credit(platform, owner)
    author = await make_person(platform.database_url, "product")
    client = await signed_in(console.url, author)
    try:
        fields = await definition_fields(platform, credit.program_id)
        limits = fields["limits"].replace('"budget_minor": 1000000', '"budget_minor": 2500000')
        assert limits != fields["limits"]
        form = await editor_form(client, credit.program_id, **{**fields, "limits": limits})
        saved = await client.post(
            f"/programs/{credit.program_id}/edit", data={**form, "action": "save"}
        )
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == f"/programs/{credit.program_id}?saved=2"
        page = flat((await client.get(saved.headers["location"])).text)
        diff = flat((await client.get(f"/programs/{credit.program_id}?version=2")).text)
    finally:
        await client.aclose()
    assert "Saved version 2. It waits for approval in the" in page
    assert "version 1 keeps running until it is approved" in page
    assert f"written by <strong>{author.name}</strong>" in page
    assert 'href="/inbox' in page
    # The live version runs; the new one waits.
    program = await program_json(platform, credit.program_id)
    assert program["live_version"] == 1
    assert program["pending"]["version"] == 2
    assert program["live"]["definition"]["limits"]["budget_minor"] == 1_000_000
    # Side by side: the budget went from 1,000,000 to 2,500,000, and nothing else changed.
    assert "What version 2 changed from version 1" in diff
    changes = re.findall(r'<tr class="change">.*?</tr>', diff)
    assert len(changes) == 1, changes
    assert "<code>limits.budget_minor</code>" in changes[0]
    assert '<td class="before"><pre class="code">1000000</pre></td>' in changes[0]
    assert '<td class="after"><pre class="code">2500000</pre></td>' in changes[0]


async def test_the_trigger_check_shows_an_error_at_its_line_and_column_or_ok(
    platform: Platform, console: ServiceProcess
) -> None:
    client = await signed_in(console.url, await make_person(platform.database_url, "product"))
    try:
        page = await client.get("/programs/new")
        assert 'hx-post="/programs/check-trigger"' in page.text
        assert 'hx-trigger="keyup changed delay:400ms, change"' in page.text
        csrf = csrf_of(page.text)
        headers = {"X-CSRF-Token": csrf, "HX-Request": "true"}
        bad = await client.post(
            "/programs/check-trigger",
            # As a browser sends a textarea: CRLF line breaks.
            data={"trigger": "account.days_to_renewal <= 60 &&\r\naccount.health_score >"},
            headers=headers,
        )
        good = await client.post(
            "/programs/check-trigger",
            data={"trigger": "account.health_score > 40"},
            headers=headers,
        )
    finally:
        await client.aclose()
    assert bad.status_code == 200, bad.text
    # The API's own position, drawn under the line it is on.
    async with platform.client("offers") as offers:
        checked = await offers.post(
            "/v1/programs/check-trigger",
            json={"trigger": "account.days_to_renewal <= 60 &&\naccount.health_score >"},
        )
    problem = checked.json()["problems"][0]
    assert checked.json()["ok"] is False
    assert problem["line"] == 2
    assert f"Line 2, column {problem['column']}:" in bad.text
    caret = " " * (problem["column"] - 1) + "^"
    assert f"account.health_score &gt;\n{caret}</pre>" in bad.text
    assert "<html" not in bad.text  # a part of the page, for htmx to swap in
    assert "Trigger OK" in good.text


async def test_a_dry_run_decides_one_account_and_records_nothing(
    platform: Platform, console: ServiceProcess
) -> None:
    owner = await make_person(platform.database_url, "product")
    credit = await pending_credit(platform, owner)
    client = await signed_in(console.url, await make_person(platform.database_url, "product"))
    fields = await definition_fields(platform, credit.program_id)
    of_account = {"account_id": credit.account_id}
    async with platform.client("offers") as offers:
        before = (
            await offers.get("/v1/decisions", params={"account_id": credit.account_id})
        ).json()
    try:
        form = await editor_form(client, credit.program_id, **fields)
        answer = await client.post(
            f"/programs/{credit.program_id}/edit",
            data={**form, "action": "dry-run", "account_id": credit.account_id},
        )
    finally:
        await client.aclose()
    assert answer.status_code == 200, answer.text
    page = flat(answer.text)
    # It already has its one offer of the program: the per-account limit says no.
    assert f"Dry run for account {credit.account_id}" in page
    assert '<dd class="outcome">account limit</dd>' in page
    assert "at most 1" in page
    async with platform.client("offers") as offers:
        after = (await offers.get("/v1/decisions", params=of_account)).json()
    assert after["items"] == before["items"]


async def test_the_simulation_on_the_page_is_the_apis_own(
    platform: Platform, console: ServiceProcess
) -> None:
    owner = await make_person(platform.database_url, "product")
    credit = await pending_credit(platform, owner)
    client = await signed_in(console.url, await make_person(platform.database_url, "product"))
    # Every account that starts with "console-": more than this test's own.
    fields = await definition_fields(
        platform, credit.program_id, trigger="account.account_id.startsWith('console-')"
    )
    try:
        form = await editor_form(client, credit.program_id, **fields)
        answer = await client.post(
            f"/programs/{credit.program_id}/edit", data={**form, "action": "simulate"}
        )
    finally:
        await client.aclose()
    assert answer.status_code == 200, answer.text
    program = await program_json(platform, credit.program_id)
    definition = {**program["live"]["definition"], "trigger": fields["trigger"]}
    async with platform.client("offers") as offers:
        api = (
            await offers.post(
                f"/v1/programs/{credit.program_id}/simulate", json={"definition": definition}
            )
        ).json()
    page = answer.text
    assert f'<dd id="sim-accounts">{api["accounts"]}</dd>' in page
    assert f'<dd id="sim-offers">{api["offers"]}</dd>' in page
    cost = f"{api['cost_minor'] // 100:,}.{api['cost_minor'] % 100:02d} USD"
    assert f'<dd id="sim-cost">{cost}</dd>' in page
    for outcome, n in api["outcomes"].items():
        assert f'id="sim-outcome-{outcome}">{n}</td>' in page
    assert api["accounts"] >= 1


async def test_a_new_program_is_tried_before_it_is_saved(
    platform: Platform, console: ServiceProcess
) -> None:
    credit = await pending_credit(platform, await make_person(platform.database_url, "product"))
    name = f"Unsaved {uuid.uuid4().hex[:8]}"
    trigger = f"account.account_id == '{credit.account_id}'"
    fields = await definition_fields(platform, credit.program_id, name=name, trigger=trigger)
    client = await signed_in(console.url, await make_person(platform.database_url, "product"))
    try:
        page = await client.get("/programs/new")
        form = {**fields, "csrf_token": csrf_of(page.text)}
        tried = await client.post(
            "/programs/new", data={**form, "action": "dry-run", "account_id": credit.account_id}
        )
        simulated = await client.post("/programs/new", data={**form, "action": "simulate"})
    finally:
        await client.aclose()
    program = await program_json(platform, credit.program_id)
    definition = {**program["live"]["definition"], "name": name, "trigger": trigger}
    async with platform.client("offers") as offers:
        run = (
            await offers.post(
                "/v1/programs/dry-run",
                json={"account_id": credit.account_id, "definition": definition},
            )
        ).json()
        api = (await offers.post("/v1/programs/simulate", json={"definition": definition})).json()
    assert tried.status_code == 200, tried.text
    assert f'<dd class="outcome">{run["outcome"].replace("_", " ")}</dd>' in flat(tried.text)
    assert simulated.status_code == 200, simulated.text
    assert f'<dd id="sim-accounts">{api["accounts"]}</dd>' in simulated.text
    assert f'<dd id="sim-offers">{api["offers"]}</dd>' in simulated.text
    assert api["offers"] + api["outcomes"]["holdout"] == 1  # the one account, matched
    # Trying saved nothing: no version of any program has the name.
    engine = create_engine(platform.database_url)
    try:
        async with engine.connect() as conn:
            saved = await conn.execute(
                text("SELECT count(*) FROM offers.program_versions WHERE definition->>'name' = :n"),
                {"n": name},
            )
            assert saved.scalar_one() == 0
    finally:
        await engine.dispose()


async def test_a_viewer_sees_why_not_and_a_forged_save_is_refused(
    platform: Platform, console: ServiceProcess
) -> None:
    owner = await make_person(platform.database_url, "product")
    credit = await pending_credit(platform, owner)
    viewer = await signed_in(console.url, await make_person(platform.database_url, "viewer"))
    writer = await signed_in(console.url, await make_person(platform.database_url, "product"))
    fields = await definition_fields(platform, credit.program_id, name="Forged")
    try:
        edit = await viewer.get(f"/programs/{credit.program_id}/edit")
        listing = await viewer.get("/programs")
        program = await viewer.get(f"/programs/{credit.program_id}")
        # A form from elsewhere carries no anti-forgery token: refused, nothing saved.
        forged = await writer.post(
            f"/programs/{credit.program_id}/edit", data={**fields, "action": "save"}
        )
    finally:
        await viewer.aclose()
        await writer.aclose()
    assert edit.status_code == 200
    assert "You cannot edit programs" in edit.text
    assert "Save a new version" not in edit.text
    assert '<form method="post" class="editor"' not in edit.text
    assert "New program" not in listing.text.split("<main", 1)[1]
    assert "You cannot create programs" in listing.text
    assert "You cannot edit programs" in program.text
    assert forged.status_code == 403
    assert (await program_json(platform, credit.program_id))["latest_version"] == 1


async def test_bad_input_comes_back_on_the_form_with_the_field_marked(
    platform: Platform, console: ServiceProcess
) -> None:
    owner = await make_person(platform.database_url, "product")
    client = await signed_in(console.url, await make_person(platform.database_url, "product"))
    name = f"Console new {uuid.uuid4().hex[:8]}"
    try:
        page = await client.get("/programs/new")
        csrf = csrf_of(page.text)
        defaults = {
            k: v
            for k, v in re.findall(r'<input id="f-\w+" name="(\w+)" value="([^"]*)"', page.text)
        }
        assert defaults["currency"] == "USD"
        fields = {
            "csrf_token": csrf,
            "name": name,
            "owner": owner.name,
            "currency": "USD",
            "trigger": "account.days_to_renewal <= 60",
            "reward": '{"kind": "credit", "amount": {"amount_minor": 50000}}',
            "limits": '{"budget_minor": -5}',
            "holdout_percent": "10",
        }
        refused = await client.post("/programs/new", data=fields)
        not_json = await client.post("/programs/new", data={**fields, "approval": "{nope"})
        bad_trigger = await client.post(
            "/programs/new",
            data={**fields, "limits": "{}", "trigger": "account.health_score >"},
        )
        created = await client.post("/programs/new", data={**fields, "limits": "{}"})
    finally:
        await client.aclose()
    assert refused.status_code == 422, refused.text
    limits = re.search(r'<textarea id="f-limits"[^>]*>', refused.text)
    assert limits
    assert 'aria-invalid="true"' in limits.group(0)
    assert 'aria-describedby="err-limits' in limits.group(0)
    assert '<ul class="field-error" id="err-limits"><li>/limits/budget_minor:' in refused.text
    assert name in refused.text  # what was typed stays on the form
    assert not_json.status_code == 422
    approval = re.search(r'<textarea id="f-approval"[^>]*>', not_json.text)
    assert approval
    assert 'aria-invalid="true"' in approval.group(0)
    assert "not JSON" in not_json.text
    assert bad_trigger.status_code == 422
    trigger = re.search(r'<textarea id="f-trigger"[^>]*>', bad_trigger.text, re.S)
    assert trigger
    assert 'aria-invalid="true"' in trigger.group(0)
    assert "Line 1, column" in bad_trigger.text
    assert created.status_code == 303, created.text
    assert re.fullmatch(r"/programs/[0-9a-f-]+\?saved=1", created.headers["location"])
