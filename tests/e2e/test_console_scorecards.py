"""The scorecards pages over HTTP: weights and the back-test's AUC as scoring gives them, a
preview's colour distribution equal to the API's (plain form and htmx), bad weights back on
the form, and saving a new version as someone with scores:write (others see why not)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from services.console.domain.scorecards import points_text
from tests.conftest import Platform
from tests.console_support import csrf_of, make_person, signed_in
from tests.support import ServiceProcess

COLOURS = ("red", "yellow", "green", "unscored")


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def fields_of(card: dict[str, Any], **weights: float) -> dict[str, str]:
    """The editor's fields for a scorecard as the API gives it, some weights changed."""
    fields = {}
    for measure, weight in card["weights"].items():
        fields[f"weight-{measure}"] = f"{weights.get(measure, weight):g}"
        fields[f"thresholds-{measure}"] = points_text(card["thresholds"][measure])
    return fields


def body_of(card: dict[str, Any], **weights: float) -> dict[str, Any]:
    return {
        "weights": {m: weights.get(m, w) for m, w in card["weights"].items()},
        "thresholds": card["thresholds"],
    }


def preview_counts(html: str) -> dict[str, tuple[int, int]]:
    """(today, proposed) per colour, as the preview table shows them."""
    counts = {}
    for colour in COLOURS:
        found = re.search(rf'<tr id="preview-{colour}">(.*?)</tr>', html, re.S)
        assert found, f"no preview row for {colour}"
        cells = re.findall(r'<td class="number">([-+]?\d+)</td>', found.group(1))
        counts[colour] = (int(cells[0]), int(cells[1]))
    return counts


async def test_the_scorecard_page_shows_the_weights_and_the_backtests_auc(
    platform: Platform, console: ServiceProcess, scoring: httpx.AsyncClient
) -> None:
    viewer = await make_person(platform.database_url, "viewer")
    card = (await scoring.get("/v1/scorecards/smb")).json()
    backtest = (await scoring.get("/v1/scorecards/smb/backtest")).json()
    client = await signed_in(console.url, viewer)
    try:
        index = await client.get("/scorecards")
        assert index.status_code == 200
        for motion in ("smb", "mid_market", "enterprise"):
            assert f'href="/scorecards/{motion}"' in index.text
        page = await client.get("/scorecards/smb")
        assert page.status_code == 200
        assert 'aria-current="page"' in page.text
        for measure, weight in card["weights"].items():
            found = re.search(rf'<tr id="weight-row-{measure}">(.*?)</tr>', page.text, re.S)
            assert found, measure
            assert f'<td class="number">{weight:g}</td>' in found.group(1)
        auc = re.search(r'<span id="backtest-auc">([^<]+)</span>', page.text)
        assert auc
        want = "none" if backtest["auc"] is None else f"{backtest['auc']:.3f}"
        assert auc.group(1) == want
        for colour in ("red", "yellow", "green"):
            group = backtest["by_colour"][colour]
            found = re.search(rf'<tr id="backtest-{colour}">(.*?)</tr>', page.text, re.S)
            assert found, colour
            cells = squeeze(found.group(1))
            assert f'<td class="number">{group["renewals"]}</td>' in cells
            assert f'<td class="number">{group["churned"]}</td>' in cells
        if backtest["renewals"]:
            assert "<svg" in page.text
            assert "Churn rate by colour" in page.text
        else:
            assert "No renewal in the window to chart yet." in page.text
        # A viewer may preview but not save, and is told why.
        assert "You cannot save" in page.text
        assert "Save as a new version" not in page.text
        assert (await client.get("/scorecards/nowhere")).status_code == 422
    finally:
        await client.aclose()


async def test_the_preview_shows_the_apis_colour_distribution(
    platform: Platform, console: ServiceProcess, scoring: httpx.AsyncClient
) -> None:
    viewer = await make_person(platform.database_url, "viewer")
    card = (await scoring.get("/v1/scorecards/mid_market")).json()
    # Five points of weight from login recency to payment failures: still 100 in all.
    moved = {
        "login_recency": card["weights"]["login_recency"] - 5,
        "payment_failures": card["weights"]["payment_failures"] + 5,
    }
    client = await signed_in(console.url, viewer)
    try:
        page = await client.get("/scorecards/mid_market")
        form = {"csrf_token": csrf_of(page.text), **fields_of(card, **moved)}
        plain = await client.post("/scorecards/mid_market/preview", data=form)
        expected = await scoring.post(
            "/v1/scorecards/mid_market/preview", json=body_of(card, **moved)
        )
        assert plain.status_code == 200, plain.text
        want = {c: (expected.json()["current"][c], expected.json()["proposed"][c]) for c in COLOURS}
        assert preview_counts(plain.text) == want
        assert f"{expected.json()['accounts']} accounts re-scored" in plain.text
        # The typed weights stay in the editor.
        assert f'value="{moved["login_recency"]:g}"' in plain.text

        partial = await client.post(
            "/scorecards/mid_market/preview", data=form, headers={"HX-Request": "true"}
        )
        assert partial.status_code == 200
        assert "<html" not in partial.text
        assert partial.text.lstrip().startswith('<div id="scorecard-editor">')
        assert preview_counts(partial.text) == want
    finally:
        await client.aclose()


async def test_bad_weights_come_back_on_the_form_with_the_apis_words(
    platform: Platform, console: ServiceProcess, scoring: httpx.AsyncClient
) -> None:
    cs = await make_person(platform.database_url, "cs")
    card = (await scoring.get("/v1/scorecards/enterprise")).json()
    before = (await scoring.get("/v1/scorecards/enterprise/versions")).json()
    client = await signed_in(console.url, cs)
    try:
        page = await client.get("/scorecards/enterprise")
        token = csrf_of(page.text)
        heavy = {"nps": card["weights"]["nps"] + 5}
        too_much = await client.post(
            "/scorecards/enterprise", data={"csrf_token": token, **fields_of(card, **heavy)}
        )
        assert too_much.status_code == 422
        assert "weights sum to 105, not 100" in too_much.text
        assert 'id="err-weights"' in too_much.text
        assert 'aria-invalid="true" aria-describedby="err-weights"' in too_much.text

        fields = fields_of(card)
        fields["weight-nps"] = "ten"
        fields["thresholds-csat"] = "1:0, 3"
        typo = await client.post("/scorecards/enterprise", data={"csrf_token": token, **fields})
        assert typo.status_code == 422
        assert 'value="ten"' in typo.text
        assert 'aria-invalid="true" aria-describedby="err-weight-nps"' in typo.text
        assert "the weight of nps must be a number" in typo.text
        assert 'aria-describedby="err-thresholds-csat"' in typo.text

        falling = fields_of(card)
        falling["thresholds-nps"] = "0:50, 10:0"  # a higher NPS is better: may not fall
        refused = await client.post(
            "/scorecards/enterprise/preview", data={"csrf_token": token, **falling}
        )
        assert refused.status_code == 422
        assert 'aria-describedby="err-thresholds-nps"' in refused.text
        assert "may not fall" in refused.text
    finally:
        await client.aclose()
    after = (await scoring.get("/v1/scorecards/enterprise/versions")).json()
    assert len(after) == len(before)


async def test_saving_a_version_needs_scores_write_and_is_the_persons(
    platform: Platform, console: ServiceProcess, scoring: httpx.AsyncClient
) -> None:
    cs = await make_person(platform.database_url, "cs")
    viewer = await make_person(platform.database_url, "viewer")
    card = (await scoring.get("/v1/scorecards/smb")).json()
    comment = f"console {uuid.uuid4().hex[:8]}"
    as_cs = await signed_in(console.url, cs)
    as_viewer = await signed_in(console.url, viewer)
    try:
        page = await as_viewer.get("/scorecards/smb")
        data = {"csrf_token": csrf_of(page.text), "comment": comment, **fields_of(card)}
        refused = await as_viewer.post("/scorecards/smb", data=data)
        assert refused.status_code == 403
        assert 'role="alert"' in refused.text
        assert (await scoring.get("/v1/scorecards/smb")).json()["version"] == card["version"]

        page = await as_cs.get("/scorecards/smb")
        assert "Save as a new version" in page.text
        data["csrf_token"] = csrf_of(page.text)
        saved = await as_cs.post("/scorecards/smb", data=data)
        assert saved.status_code == 303, saved.text
        version = card["version"] + 1
        assert saved.headers["location"] == f"/scorecards/smb?saved={version}"
        after = await as_cs.get(saved.headers["location"])
        assert f"Saved: version {version}" in after.text
        assert comment in after.text
    finally:
        await as_cs.aclose()
        await as_viewer.aclose()
    newest = (await scoring.get("/v1/scorecards/smb/versions")).json()[0]
    assert (newest["version"], newest["comment"]) == (card["version"] + 1, comment)
    assert cs.name in newest["created_by"]
    assert newest["weights"] == card["weights"]
