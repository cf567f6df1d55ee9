"""The programs pages' pure rules: the diff of two versions, a trigger problem drawn under
its line, the budget bar's words, and the editor's form read into a definition."""

from __future__ import annotations

import json
from typing import Any

from services.console.domain.programs import (
    NEW_PROGRAM,
    budget_bar,
    changed_sections,
    definition_of,
    field_of,
    fields_marked,
    form_values,
    mark_problems,
    version_diff,
)

V1: dict[str, Any] = {
    "name": "Renewal credit",
    "owner": "pat",
    "trigger": "account.days_to_renewal <= 60",
    "reward": {"kind": "credit", "amount": {"amount_minor": 50_000}, "expires_after": "P90D"},
    "limits": {"budget_minor": 1_000_000, "cooldown_days": 30, "tier_budgets_minor": {}},
    "holdout_percent": "10",
    "eligibility": {"tiers": ["gold"]},
}


def test_the_diff_lists_only_the_values_that_changed_in_reading_order() -> None:
    v2 = {
        **V1,
        "trigger": "account.days_to_renewal <= 90",
        "limits": {**V1["limits"], "budget_minor": 2_500_000},
        "holdout_percent": "5",
        "eligibility": {"tiers": ["gold", "platinum"]},
    }
    changes = version_diff(V1, v2)
    assert [c.path for c in changes] == [
        "trigger",
        "eligibility.tiers",
        "limits.budget_minor",
        "holdout_percent",
    ]
    budget = changes[2]
    assert (budget.section, budget.before, budget.after) == ("limits", "1000000", "2500000")
    # A list is compared whole, shown as JSON; text is shown as it is.
    assert changes[1].before == '["gold"]'
    assert changes[1].after == '["gold", "platinum"]'
    assert changes[0].after == "account.days_to_renewal <= 90"
    assert changed_sections(changes) == ["trigger", "eligibility", "limits", "holdout_percent"]


def test_the_diff_says_what_was_added_or_removed_and_nothing_for_equal_versions() -> None:
    assert version_diff(V1, json.loads(json.dumps(V1))) == []
    v2 = {**V1, "limits": {"budget_minor": 1_000_000, "arr_cap_percent": "2"}}
    del v2["eligibility"]
    changes = {c.path: c for c in version_diff(V1, v2)}
    assert changes["limits.arr_cap_percent"].before is None
    assert changes["limits.arr_cap_percent"].after == "2"
    assert changes["limits.cooldown_days"].after is None
    assert changes["eligibility.tiers"].after is None
    # The reward kind changing replaces its fields: each old one absent, each new one new.
    v3 = {**V1, "reward": {"kind": "discount", "percent": "10", "months": 3}}
    paths = {c.path: (c.before, c.after) for c in version_diff(V1, v3)}
    assert paths["reward.kind"] == ("credit", "discount")
    assert paths["reward.amount.amount_minor"] == ("50000", None)
    assert paths["reward.months"] == (None, "3")


def test_a_first_version_is_all_new() -> None:
    changes = version_diff(None, V1)
    assert all(c.before is None for c in changes)
    assert "name" in [c.path for c in changes]
    # An empty object is one value, not nothing.
    assert any(c.path == "limits.tier_budgets_minor" and c.after == "{}" for c in changes)


def test_a_problem_is_drawn_with_a_caret_under_its_column() -> None:
    trigger = "account.tier == 'gold' &&\n\taccount.health_score >"
    marked = mark_problems(trigger, [{"line": 2, "column": 23, "message": "expected a value"}])
    assert marked[0].source_line == "\taccount.health_score >"
    # The tab stays a tab, so the caret lines up however the tab is shown.
    assert marked[0].caret == "\t" + " " * 21 + "^"
    past_end = mark_problems("a >", [{"line": 1, "column": 5, "message": "end"}])[0]
    assert past_end.caret == "    ^"
    nowhere = mark_problems("x", [{"line": 9, "column": 1, "message": "?"}])[0]
    assert (nowhere.source_line, nowhere.caret) == ("", "^")


def test_the_budget_bar_says_in_words_what_it_draws() -> None:
    bar = budget_bar(150_000, 250_000, 1_000_000, "USD")
    assert [(s.label, s.value) for s in bar.segments] == [("spent", 250_000), ("reserved", 150_000)]
    assert bar.words == (
        "Spent 2,500.00 USD (dark blue), reserved 1,500.00 USD (light blue) of a cap of"
        " 10,000.00 USD: 40.0 % used, 6,000.00 USD left"
    )
    assert budget_bar(0, 5, None, "EUR").words == "Spent 0.05 EUR, reserved 0.00 EUR; no budget cap"
    over = budget_bar(0, 1_200, 1_000, "USD")
    assert over.words.endswith("120.0 % used, -2.00 USD left")


def test_the_form_reads_back_into_the_definition_it_was_filled_from() -> None:
    fields = form_values(V1)
    assert fields["holdout_percent"] == "10"
    assert json.loads(fields["limits"]) == V1["limits"]
    body, errors = definition_of(fields)
    assert errors == {}
    assert body["limits"] == V1["limits"]
    assert body["reward"] == V1["reward"]
    assert body["holdout_percent"] == "10"  # decimal text, never a float
    assert body["trigger"] == V1["trigger"]
    assert definition_of(form_values(NEW_PROGRAM))[1] == {}


def test_a_field_that_is_not_json_is_named_with_where() -> None:
    body, errors = definition_of({**form_values(V1), "limits": '{"budget_minor": }'})
    assert "limits" not in body
    assert errors["limits"].startswith("not JSON: Expecting value at line 1, column 18")
    empty, none = definition_of({**form_values(V1), "window": "  ", "holdout_percent": ""})
    assert "window" not in empty  # left to the API's default
    assert "holdout_percent" not in empty
    assert none == {}


def test_api_pointers_land_on_the_editor_field_they_are_in() -> None:
    assert field_of("/limits/budget_minor") == "limits"
    assert field_of("/definition/trigger") == "trigger"
    assert field_of("/holdout_percent") == "holdout_percent"
    assert field_of("/account_id") == "account_id"
    assert field_of("") == "form"
    assert field_of("/unknown") == "form"
    marked = fields_marked(
        {"/limits/budget_minor": "must be >= 0", "/trigger": "line 1, column 3: bad", "": "x"}
    )
    assert marked == {
        "limits": ["/limits/budget_minor: must be >= 0"],
        "trigger": ["line 1, column 3: bad"],
        "form": ["x"],
    }
