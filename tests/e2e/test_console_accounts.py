"""The console's accounts pages over HTTP, as a browser without JavaScript uses them: the list
and its filters, paging and CSV; an account's page with its points, trend, credit lots and
the other services' panels; overriding its colour as a cs person, and what keeps it safe."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import Platform
from tests.console_support import console_without, csrf_of, make_person, signed_in
from tests.e2e.test_accounts import account, new_id
from tests.e2e.test_ledger import grant
from tests.e2e.test_scoring import eventually, iso, snapshot_of
from tests.support import ServiceProcess


def tag() -> str:
    """A word no other test's account names contain."""
    return uuid.uuid4().hex[:10]


async def scored(platform: Platform, *names: str) -> list[str]:
    """Accounts named ``names`` put into ingest, once scoring has scored each of them."""
    ids = [new_id("cacct") for _ in names]
    batch = [{"external_id": i, **account(name=n)} for i, n in zip(ids, names, strict=True)]
    async with platform.client("ingest") as ingest:
        put = await ingest.post("/v1/accounts/batch", json={"accounts": batch})
        assert put.status_code == 200, put.text
    async with platform.client("scoring") as scoring:
        for account_id in ids:
            await eventually(partial(snapshot_of, scoring, account_id), lambda s: s is not None, 60)
    return ids


async def set_colour(platform: Platform, account_id: str, colour: str) -> None:
    """An override of the account's colour made straight on scoring (as admin)."""
    body = {
        "colour": colour,
        "reason": "seeded for the test",
        "expires_at": iso(datetime.now(UTC) + timedelta(days=7)),
    }
    async with platform.client("scoring") as scoring:
        path = f"/v1/scores/{quote(account_id, safe='')}/override"
        response = await scoring.post(path, json=body)
    assert response.status_code == 200, response.text


def rows(html: str) -> list[str]:
    """The list's table rows, whitespace folded."""
    body = re.search(r"<tbody>(.*?)</tbody>", html, re.S)
    if body is None:
        return []
    return [re.sub(r"\s+", " ", r) for r in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)]


async def override_form(
    client: httpx.AsyncClient, account_id: str, **fields: str
) -> httpx.Response:
    """Send the account page's override form as it is filled in."""
    page = await client.get(f"/accounts/{account_id}")
    return await client.post(
        f"/accounts/{account_id}/override", data={"csrf_token": csrf_of(page.text), **fields}
    )


def in_a_week() -> str:
    """A datetime-local value (UTC) a week ahead, as a browser's input sends it."""
    return (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")


async def test_the_list_filters_by_colour_and_by_name(
    platform: Platform, console: ServiceProcess
) -> None:
    word = tag()
    alpha, beta = await scored(platform, f"Filter {word} Alpha", f"Filter {word} Beta")
    await set_colour(platform, alpha, "green")
    await set_colour(platform, beta, "red")
    client = await signed_in(console.url, await make_person(platform.database_url, "viewer"))
    try:
        both = await client.get("/accounts", params={"q": word})
        assert both.status_code == 200
        assert len(rows(both.text)) == 2
        green = rows((await client.get("/accounts", params={"q": word, "colour": "green"})).text)
        assert len(green) == 1
        assert f"Filter {word} Alpha" in green[0]
        assert 'class="colour colour-green">green<' in green[0]  # the colour said in words
        assert "(override; computed" in green[0]
        named = rows((await client.get("/accounts", params={"q": f"{word.upper()} beta"})).text)
        assert len(named) == 1
        assert beta in named[0]
        by_id = rows((await client.get("/accounts", params={"q": alpha})).text)
        assert len(by_id) == 1
        assert alpha in by_id[0]
        # The form keeps what was asked, and an empty field is no filter.
        kept = await client.get(
            "/accounts", params={"q": word, "colour": "green", "tier": "", "health_below": ""}
        )
        assert '<option value="green" selected>' in kept.text
        assert f'value="{word}"' in kept.text
        for bad, words in (
            ({"colour": "purple"}, "colour: &#39;purple&#39; is not one of red, yellow, green"),
            ({"health_above": "x"}, "health_above: &#39;x&#39; is not a number"),
            ({"renewal_window": "45"}, "renewal_window: &#39;45&#39; is not one of"),
        ):
            refused = await client.get("/accounts", params=bad)
            assert refused.status_code == 422, bad
            assert words in refused.text
    finally:
        await client.aclose()


async def test_the_list_pages_along_the_cursor_and_the_csv_has_every_filtered_row(
    platform: Platform, console: ServiceProcess
) -> None:
    word = tag()
    names = [f"Bulk {word} {n:02d}" for n in range(51)] + [f'=HYPERLINK("x") {word}']
    ids = await scored(platform, *names)
    other = await scored(platform, f"Unrelated {tag()}")
    client = await signed_in(console.url, await make_person(platform.database_url, "viewer"))
    try:
        first = await client.get("/accounts", params={"q": word})
        assert len(rows(first.text)) == 50
        following = re.search(r'<a href="(/accounts\?[^"]*cursor=[^"]+)" rel="next">', first.text)
        assert following, "a Next link"
        second = await client.get(following.group(1).replace("&amp;", "&"))
        assert second.status_code == 200
        assert len(rows(second.text)) == 2
        assert 'rel="next"' not in second.text
        assert "First page" in second.text

        download = await client.get("/accounts.csv", params={"q": word})
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("text/csv")
        assert "attachment" in download.headers["content-disposition"]
        table = list(csv.reader(io.StringIO(download.text)))
        assert table[0][:3] == ["account_id", "name", "colour"]
        assert sorted(r[0] for r in table[1:]) == sorted(ids)
        assert other[0] not in download.text
        formula = next(r for r in table[1:] if "HYPERLINK" in r[1])
        assert formula[1] == f'\'=HYPERLINK("x") {word}'  # neutralised, not run
        assert (await client.get("/accounts.csv", params={"tier": "bronze"})).status_code == 422
    finally:
        await client.aclose()


async def test_the_account_page_shows_points_trend_and_credit_lots(
    platform: Platform, console: ServiceProcess
) -> None:
    (account_id,) = await scored(platform, f"Page {tag()}")
    async with platform.client("ledger") as ledger:
        granted = await grant(ledger, account_id, 5_000, days=30)
    expires = datetime.fromisoformat(granted["lot"]["expires_at"]).astimezone(UTC)
    client = await signed_in(console.url, await make_person(platform.database_url, "viewer"))
    try:
        page = await client.get(f"/accounts/{account_id}")
    finally:
        await client.aclose()
    assert page.status_code == 200
    html = re.sub(r"\s+", " ", page.text)
    assert "What each measure earned and missed" in html
    assert "Login recency" in html
    assert re.search(r'aria-label="Login recency: earned [\d.]+ of [\d.]+ points, missed', html)
    assert '<td class="num earned">' in html
    assert '<td class="num missed">' in html
    # The sparkline and its words: one day scored (today), so first = last = lowest = highest.
    assert "<polyline" in html or "<circle" in html
    words = re.search(r"<figcaption>(Health over the last 90 days \(1 day scored\)[^<]*)<", html)
    assert words, "the trend's text alternative"
    assert "first" in words.group(1)
    assert "highest" in words.group(1)
    assert f'aria-label="{words.group(1)}"' in html
    assert "Milestones" in html
    assert "RFM" in html
    assert "Renewal" in html
    assert "in 30 d" in html
    lots = re.search(r'<table class="lots">.*?</table>', html)
    assert lots, "the lots table"
    assert '<td class="num remaining">50.00 USD</td>' in lots.group(0)
    assert expires.strftime("%Y-%m-%d %H:%M:%S UTC") in lots.group(0)
    assert "Balance USD" in html
    assert "No offer yet." in html


async def test_an_override_by_a_cs_person_shows_with_their_name(
    platform: Platform, console: ServiceProcess
) -> None:
    (account_id,) = await scored(platform, f"Override {tag()}")
    person = await make_person(platform.database_url, "cs")
    client = await signed_in(console.url, person)
    try:
        done = await override_form(
            client,
            account_id,
            colour="yellow",
            reason="champion back from leave",
            expires_at=in_a_week(),
        )
        assert done.status_code == 303
        assert done.headers["location"] == f"/accounts/{account_id}?done=override"
        page = re.sub(r"\s+", " ", (await client.get(done.headers["location"])).text)
    finally:
        await client.aclose()
    assert "Colour overridden" in page
    assert f'set by <span class="principal">{person.name}</span>' in page
    assert "champion back from leave" in page
    async with platform.client("scoring") as scoring:
        snapshot = await snapshot_of(scoring, account_id)
    assert snapshot is not None
    assert snapshot["colour"] == "yellow"
    assert snapshot["override"]["created_by"] == person.name

    # Ended early, by the same person: the computed colour is back, and the log says who.
    client = await signed_in(console.url, person)
    try:
        token = csrf_of((await client.get(f"/accounts/{account_id}")).text)
        ended = await client.post(
            f"/accounts/{account_id}/override/end", data={"csrf_token": token}
        )
        assert ended.status_code == 303
        assert ended.headers["location"] == f"/accounts/{account_id}?done=override-ended"
        page = re.sub(r"\s+", " ", (await client.get(ended.headers["location"])).text)
        forged = await client.post(f"/accounts/{account_id}/override/end", data={})
    finally:
        await client.aclose()
    assert "Override ended: the computed colour is in force" in page
    assert "No override: the computed colour is in force." in page
    assert forged.status_code == 403
    async with platform.client("scoring") as scoring:
        snapshot = await snapshot_of(scoring, account_id)
        log = (await scoring.get("/v1/audit", params={"principal": person.name})).json()
    assert snapshot is not None
    assert snapshot["override"] is None
    assert [e["kind"] for e in log["items"]] == ["override.cleared", "override.set"]


async def test_a_viewer_sees_why_not_and_a_hand_made_post_is_refused(
    platform: Platform, console: ServiceProcess
) -> None:
    (account_id,) = await scored(platform, f"Viewer {tag()}")
    client = await signed_in(console.url, await make_person(platform.database_url, "viewer"))
    try:
        page = await client.get(f"/accounts/{account_id}")
        assert "You cannot override this colour" in page.text
        assert "scores:write" in page.text
        assert "/override" not in page.text.split("Colour override", 1)[1].split("</form>")[0]
        refused = await override_form(
            client, account_id, colour="green", reason="I wish", expires_at=in_a_week()
        )
        assert refused.status_code == 403
        assert 'role="alert"' in refused.text
    finally:
        await client.aclose()
    async with platform.client("scoring") as scoring:
        snapshot = await snapshot_of(scoring, account_id)
    assert snapshot is not None
    assert snapshot["override"] is None


async def test_bad_override_input_comes_back_on_the_form_with_the_field_marked(
    platform: Platform, console: ServiceProcess
) -> None:
    (account_id,) = await scored(platform, f"Bad input {tag()}")
    client = await signed_in(console.url, await make_person(platform.database_url, "cs"))
    past = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    cases: list[tuple[dict[str, str], str, str]] = [
        ({"colour": "red", "reason": "", "expires_at": in_a_week()}, "reason", "at least 1"),
        (
            {"colour": "red", "reason": "left", "expires_at": past},
            "expires_at",
            "expires_at must be in the future.",
        ),
        ({"colour": "blue", "reason": "left", "expires_at": in_a_week()}, "colour", "Input"),
    ]
    try:
        for fields, field, words in cases:
            answer = await override_form(client, account_id, **fields)
            assert answer.status_code == 422, (fields, answer.text[:500])
            html = re.sub(r"\s+", " ", answer.text)
            assert f'aria-invalid="true" aria-describedby="override-{field}-error"' in html
            said = re.search(rf'<p class="field-error" id="override-{field}-error">([^<]*)<', html)
            assert said, field
            assert words in said.group(1), (field, said.group(1))
            assert 'role="alert"' in html
            if fields["reason"]:
                assert f">{fields['reason']}</textarea>" in html  # what was typed stays
    finally:
        await client.aclose()
    async with platform.client("scoring") as scoring:
        snapshot = await snapshot_of(scoring, account_id)
    assert snapshot is not None
    assert snapshot["override"] is None


async def test_an_account_name_is_text_on_the_list_and_the_page(
    platform: Platform, console: ServiceProcess
) -> None:
    (account_id,) = await scored(platform, "<script>alert(1)</script>")
    client = await signed_in(console.url, await make_person(platform.database_url, "viewer"))
    try:
        listed = await client.get("/accounts", params={"q": account_id})
        page = await client.get(f"/accounts/{account_id}")
    finally:
        await client.aclose()
    for html in (listed.text, page.text):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script>alert(1)" not in html
    assert len(rows(listed.text)) == 1


async def test_a_forged_override_without_the_forms_token_changes_nothing(
    platform: Platform, console: ServiceProcess
) -> None:
    (account_id,) = await scored(platform, f"Forged {tag()}")
    client = await signed_in(console.url, await make_person(platform.database_url, "cs"))
    try:
        for token in (None, "0" * 64):
            data: dict[str, Any] = {
                "colour": "green",
                "reason": "forged",
                "expires_at": in_a_week(),
            }
            if token:
                data["csrf_token"] = token
            forged = await client.post(f"/accounts/{account_id}/override", data=data)
            assert forged.status_code == 403
            assert "anti-forgery token" in forged.text
    finally:
        await client.aclose()
    async with platform.client("scoring") as scoring:
        snapshot = await snapshot_of(scoring, account_id)
    assert snapshot is not None
    assert snapshot["override"] is None


@pytest.fixture
async def console_without_ledger(platform: Platform) -> AsyncIterator[ServiceProcess]:
    """A console whose ledger is stopped (nothing answers on its port)."""
    async with console_without(platform, "ledger") as process:
        yield process


async def test_with_the_ledger_down_the_other_panels_still_render(
    platform: Platform, console_without_ledger: ServiceProcess
) -> None:
    (account_id,) = await scored(platform, f"Down {tag()}")
    person = await make_person(platform.database_url, "viewer")
    client = await signed_in(console_without_ledger.url, person)
    try:
        page = await client.get(f"/accounts/{account_id}")
    finally:
        await client.aclose()
    assert page.status_code == 200
    assert "ledger is not answering (no connection)" in page.text
    assert "What each measure earned and missed" in page.text
    assert "Recent events" in page.text


async def test_an_id_that_looks_escaped_is_its_own_account(
    platform: Platform, console: ServiceProcess
) -> None:
    # "%63..." must reach scoring as itself, never decoded into the id of "c...".
    plain = new_id("cacct")
    tricky = "%63" + plain[1:]
    batch = [{"external_id": i, **account(name=f"Escaped {i}")} for i in (plain, tricky)]
    async with platform.client("ingest") as ingest:
        put = await ingest.post("/v1/accounts/batch", json={"accounts": batch})
        assert put.status_code == 200, put.text
    async with platform.client("scoring") as scoring:
        for account_id in (plain, tricky):
            await eventually(partial(snapshot_of, scoring, account_id), lambda s: s is not None, 60)
    await set_colour(platform, plain, "red")
    where = quote(tricky, safe="")
    client = await signed_in(console.url, await make_person(platform.database_url, "cs"))
    try:
        page = await client.get(f"/accounts/{where}")
        token = csrf_of(page.text)
        nothing = await client.post(f"/accounts/{where}/override/end", data={"csrf_token": token})
        done = await override_form(
            client, where, colour="yellow", reason="its own account", expires_at=in_a_week()
        )
    finally:
        await client.aclose()
    assert page.status_code == 200
    assert f"Escaped {tricky}" in page.text
    assert nothing.status_code == 409
    assert "there was nothing to end" in nothing.text
    assert done.status_code == 303
    async with platform.client("scoring") as scoring:
        theirs = await snapshot_of(scoring, plain)
        its = await snapshot_of(scoring, tricky)
    assert theirs is not None
    assert its is not None
    assert (theirs["override"]["colour"], its["override"]["colour"]) == ("red", "yellow")
