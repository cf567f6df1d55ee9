"""Program triggers: the checker's problems and positions, evaluation, nulls, the README table."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, get_args

import cel
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from services.offers.domain.fields import (
    ACCOUNT,
    EXCLUDED,
    INT,
    Message,
    Nullable,
    fields_markdown,
)
from services.offers.domain.triggers import (
    Problem,
    TriggerError,
    account_context,
    compile_trigger,
    evaluate,
    infer_type,
)
from shared.contracts import Milestone, Segment, Snapshot, Tier

README = Path(__file__).resolve().parents[2] / "README.md"
# The machine's two cores are shared: a per-example deadline would only make these flaky.
RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.filter_too_much])

DEFAULT_TRIGGERS = {
    "renewal credit": (
        "account.days_to_renewal != null"
        " && account.days_to_renewal >= 0 && account.days_to_renewal <= 60"
    ),
    "seat expansion": "account.seat_utilization != null && account.seat_utilization >= 0.9",
    "annual conversion": "account.billing_period == 'monthly' && account.paid_months >= 3",
    "save before discount": "account.cancel_intent",
    "activation pass": "'onboarding_complete' in account.milestones",
    "power users": "account.segment == 'power_user'",
    "at-risk workshop": "account.segment == 'at_risk'",
    "expansion upgrade": "account.segment == 'expansion_ready'",
}


def measure(name: str = "nps", sub_score: float | None = 30.0) -> dict[str, Any]:
    return {
        "measure": name,
        "raw": None if sub_score is None else 3.0,
        "missing": sub_score is None,
        "sub_score": sub_score,
        "weight": 5.0,
        "effective_weight": 0.0 if sub_score is None else 5.0,
        "contribution": 0.0 if sub_score is None else sub_score * 5.0 / 100,
        "lost": 0.0 if sub_score is None else 5.0 - sub_score * 5.0 / 100,
    }


def override(colour: str) -> dict[str, Any]:
    return {
        "colour": colour,
        "reason": "exec sponsor call",
        "expires_at": datetime(2030, 7, 1, tzinfo=UTC),
        "created_by": "csm-1",
        "created_at": datetime(2030, 6, 1, tzinfo=UTC),
    }


def snapshot(**changes: Any) -> dict[str, Any]:
    """A stored snapshot (the JSON form): a monthly silver SMB account 45 days from renewal,
    expansion-ready, onboarded; every date fixed, never today's."""
    fields: dict[str, Any] = {
        "account_id": "acct-1",
        "as_of": date(2030, 6, 15),
        "computed_at": datetime(2030, 6, 15, 6, tzinfo=UTC),
        "scorecard_motion": "smb",
        "scorecard_version": 1,
        "name": "Acme",
        "motion_segment": "smb",
        "plan": "pro",
        "status": "active",
        "billing_period": "monthly",
        "currency": "EUR",
        "mrr_minor": 50_000,
        "arr_minor": 600_000,
        "seats_purchased": 10,
        "active_seats": 9,
        "seat_utilization": 0.9,
        "health_score": 72.5,
        "computed_colour": "green",
        "colour": "green",
        "override": None,
        "health_change_7d": 1.5,
        "health_change_30d": -2.0,
        "measures": [measure("nps", 30.0), measure("login_recency", 100.0)],
        "drivers": [{"measure": "nps", "lost": 3.5, "sub_score": 30.0, "raw": 3.0}],
        "rfm": {
            "recency_days": 2,
            "frequency": 40,
            "monetary_minor": 50_000,
            "r": 4,
            "f": 3,
            "m": 3,
        },
        "segment": "expansion_ready",
        "segment_rule": "seat utilization 90%",
        "tier": "silver",
        "days_since_contract_start": 200,
        "days_to_renewal": 45,
        "renewal_window": 60,
        "paid_months": 6,
        "cancel_intent": False,
        "nps": 3,
        "milestones": {"onboarding_complete": date(2030, 1, 2)},
    }
    fields.update(changes)
    return Snapshot(**fields).model_dump(mode="json")


def problems(source: str) -> list[Problem]:
    with pytest.raises(TriggerError) as caught:
        compile_trigger(source)
    return list(caught.value.problems)


def only_problem(source: str) -> Problem:
    found = problems(source)
    assert len(found) == 1, found
    return found[0]


def matches(source: str, **changes: Any) -> tuple[bool, str]:
    result = evaluate(compile_trigger(source), account_context(snapshot(**changes)))
    return result.matched, result.reason


# --- The default programs' triggers ------------------------------------------------------


@pytest.mark.parametrize("source", DEFAULT_TRIGGERS.values(), ids=DEFAULT_TRIGGERS.keys())
def test_the_default_triggers_pass_the_checker(source: str) -> None:
    assert compile_trigger(source).source == source


@pytest.mark.parametrize(
    ("program", "changes", "expected"),
    [
        ("renewal credit", {}, True),
        ("renewal credit", {"days_to_renewal": 61}, False),
        ("renewal credit", {"days_to_renewal": None}, False),
        ("seat expansion", {}, True),
        ("seat expansion", {"seat_utilization": 0.89}, False),
        ("seat expansion", {"seat_utilization": None}, False),
        ("annual conversion", {}, True),
        ("annual conversion", {"paid_months": 2}, False),
        ("annual conversion", {"billing_period": "annual"}, False),
        ("save before discount", {}, False),
        ("save before discount", {"cancel_intent": True}, True),
        ("activation pass", {}, True),
        ("activation pass", {"milestones": {"first_key_action": date(2030, 1, 1)}}, False),
        ("power users", {}, False),
        ("power users", {"segment": "power_user"}, True),
        ("at-risk workshop", {"segment": "at_risk"}, True),
        ("expansion upgrade", {}, True),
        ("expansion upgrade", {"segment": "steady"}, False),
    ],
)
def test_the_default_triggers_on_a_snapshot(
    program: str, changes: dict[str, Any], expected: bool
) -> None:
    matched, reason = matches(DEFAULT_TRIGGERS[program], **changes)
    assert matched is expected
    assert reason == f"the trigger is {'true' if expected else 'false'}"


def test_one_context_serves_every_trigger_and_holds_only_what_they_read() -> None:
    triggers = [compile_trigger(s) for s in DEFAULT_TRIGGERS.values()]
    context = account_context(snapshot(), triggers)
    assert set(context.account) == {
        "days_to_renewal",
        "seat_utilization",
        "billing_period",
        "paid_months",
        "cancel_intent",
        "milestones",
        "segment",
    }
    assert [evaluate(t, context).matched for t in triggers] == [
        True,
        True,
        True,
        False,
        True,
        False,
        False,
        True,
    ]
    with pytest.raises(ValueError, match="lacks tier"):
        evaluate(compile_trigger("account.tier == 'gold'"), context)


def test_a_trigger_that_uses_account_whole_needs_every_field() -> None:
    trigger = compile_trigger("[account].exists(a, a.tier == 'silver')")
    assert trigger.fields == {f.name for f in ACCOUNT.fields}
    assert evaluate(trigger, account_context(snapshot())).matched


# --- Syntax errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "position", "line", "column", "message"),
    [
        ("account.tier == ", 16, 1, 17, "syntax error: the expression is incomplete"),
        ("account.rfm.r >= 4 4", 19, 1, 20, "syntax error: unexpected '4'"),
        ("(account.cancel_intent", 22, 1, 23, "syntax error: missing ')' at the end"),
        (
            "account.tier == 'gold' &&\n  account.rfm.r ++ 1",
            43,
            2,
            18,
            "syntax error: unexpected '+'",
        ),
        ("'é' == account.name &&", 22, 1, 23, "syntax error: the expression is incomplete"),
    ],
)
def test_a_syntax_error_has_its_position(
    source: str, position: int, line: int, column: int, message: str
) -> None:
    assert only_problem(source) == Problem(position, line, column, message)


def test_an_unclosed_string_is_a_syntax_error_where_it_starts() -> None:
    problem = only_problem("account.name == 'Acme")
    assert (problem.position, problem.line, problem.column) == (16, 1, 17)
    assert problem.message.startswith("syntax error: cannot read")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("b'abc' == b'abc'", "bytes are not supported in a trigger"),
        ("Foo{a: 1}", "messages are not supported in a trigger"),
        (".account.cancel_intent", "a leading '.' is not supported in a trigger"),
    ],
)
def test_what_cel_parses_but_a_trigger_may_not_use(source: str, message: str) -> None:
    assert only_problem(source).message == message


# --- Names, fields and functions ---------------------------------------------------------


def test_an_unknown_field_is_reported_at_the_field_with_a_suggestion() -> None:
    problem = only_problem("account.tier == 'gold' && account.days_to_renewl < 30")
    assert (problem.position, problem.column) == (34, 35)
    assert problem.message == (
        "account has no field 'days_to_renewl'; did you mean 'days_to_renewal'?"
    )


@pytest.mark.parametrize(
    ("source", "position", "message"),
    [
        ("account.rfm.quintile == 4", 12, "account.rfm has no field 'quintile'"),
        (
            "account.measures.exists(m, m.scor < 50.0)",
            29,
            "m has no field 'scor'; did you mean 'sub_score'?",
        ),
        (
            "account.computed_at != null",
            8,
            "account.computed_at is left out of what a trigger may read",
        ),
        ("has(account.rfm.nope)", 16, "account.rfm has no field 'nope'"),
        ("account['nope'] == 1", 8, "account has no field 'nope'"),
    ],
)
def test_unknown_fields_anywhere(source: str, position: int, message: str) -> None:
    problem = only_problem(source)
    assert (problem.position, problem.message) == (position, message)


@pytest.mark.parametrize(
    ("source", "position"),
    [("acount.tier == 'gold'", 0), ("account.cancel_intent || now > 3", 25)],
)
def test_an_unknown_variable_is_reported_where_it_is(source: str, position: int) -> None:
    problem = only_problem(source)
    assert problem.position == position
    assert "a trigger reads account" in problem.message


@pytest.mark.parametrize(
    ("source", "position", "name"),
    [
        ("max(account.nps, 3) > 2", 0, "max"),
        ("account.name.lowerAscii() == 'acme'", 13, "lowerAscii"),
        ("account.name.matches('^A') && true", 13, "matches"),
        ("timestamp('2030-01-01T00:00:00Z') == account.as_of", 0, "timestamp"),
    ],
)
def test_an_unknown_function_is_reported_at_its_name(source: str, position: int, name: str) -> None:
    problem = only_problem(source)
    assert problem.position == position
    assert problem.message.startswith(f"unknown function {name!r}: a trigger may use size, has")


def test_has_is_for_map_keys_as_every_field_is_always_present() -> None:
    assert matches("has(account.milestones.onboarding_complete)") == (True, "the trigger is true")
    assert not matches("has(account.milestones.first_integration)")[0]
    problem = only_problem("has(account.override)")
    assert (problem.position, problem.message) == (
        0,
        "account.override is always present: compare it with null instead",
    )


def test_a_macro_variable_may_not_hide_account_and_lives_in_its_macro() -> None:
    assert only_problem("account.measures.exists(account, true)").message == (
        "the name 'account' is already in use"
    )
    assert (
        "unknown name 'm'"
        in only_problem("account.measures.exists(m, m.missing) && m.missing").message
    )


def test_every_problem_is_reported_in_source_order() -> None:
    found = problems("account.nope == 1 || account.tier == 'bronze' || zzz")
    assert [p.position for p in found] == [8, 37, 49]


# --- Types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "position", "message"),
    [
        (
            "account.tier == 3",
            13,
            "cannot compare account.tier (string (one of 'silver', 'gold', 'platinum')) with 3"
            " (int)",
        ),
        ("account.cancel_intent == 'yes'", 22, "cannot compare"),
        ("account.rfm == account.override", 12, "cannot compare"),
        ("account.name < 3", 13, "cannot order account.name (string) with 3 (int)"),
        ("account.as_of >= account.name", 14, "cannot order"),
        ("account.health_score + 1 > 50.0", 21, "cannot apply + to account.health_score"),
        ("account.paid_months * 1.5 > 3.0", 20, "cannot apply * to"),
        ("account.paid_months + 1u > 3", 20, "cannot apply + to"),
        ("account.health_score % 2.0 == 0.0", 21, "cannot apply % to"),
        ("account.name - 'x' == ''", 13, "cannot apply - to"),
        ("!account.paid_months", 0, "! needs true or false"),
        ("-account.name == ''", 0, "- needs an int or a double"),
        ("account.cancel_intent && account.paid_months", 25, "each side of && must be true"),
        ("account.paid_months ? true : false", 0, "the condition before ? must be true"),
        ("account.cancel_intent ? 1 : 'one'", 24, "the two branches of ?: differ"),
        ("'x' in account.name", 4, "in needs a list or a map on its right"),
        ("3 in account.milestones", 2, "cannot be in"),
        ("size(account.paid_months) > 1", 0, "size needs a string, a list or a map"),
        ("account.name.contains(3)", 22, "contains needs a string argument"),
        ("account.rfm.contains('x')", 12, "contains needs a string"),
        ("account.measures[0.5].missing", 17, "a list index must be an int"),
        ("account.rfm.r.x == 1", 14, "account.rfm.r (int) has no fields"),
        ("account.measures.exists(m, m.sub_score)", 27, "the condition of exists must be"),
        ("[1, 'a'].size() == 2", 4, "a list's items must all have one type"),
        ("int(account.name) > 1", 4, "int needs a number"),
        ("account.tier == account.segment", 13, "never have the same value"),
        ("account.tier in account.milestones", 13, "is never one of"),
        ("account.tier == null", 13, "account.tier is never null"),
    ],
)
def test_mismatched_types(source: str, position: int, message: str) -> None:
    problem = only_problem(source)
    assert problem.position == position
    assert message in problem.message


@pytest.mark.parametrize(
    "source",
    [
        # The README's examples.
        "account.rfm.r >= 4 && account.tier != 'silver'",
        "account.measures.exists(m, m.measure == 'nps' && m.sub_score != null && m.sub_score < 50)",
        "account.tier in ['gold', 'platinum']",
        "account.as_of >= '2030-06-01'",
        "account.override != null && account.override.colour == 'green'",
        "account.seat_utilization >= 1",  # CEL compares int with double
        "account.days_to_renewal <= 60u",
        "account.health_score + 1.0 > 50",
        "double(account.active_seats) / double(account.seats_purchased) >= 0.5",
        "account.paid_months % 2 == 0",
        "account.colour == account.computed_colour",
        "account.measures.map(m, m.lost).exists(x, x > 10.0)",
        "account.measures.filter(m, m.missing).size() == 0 && size(account.drivers) < 3",
        "account.name.startsWith('Ac') || account.name.endsWith('e') || account.name.contains('m')",
        "account.drivers[0].measure == 'nps'",
        "account.cancel_intent ? account.tier == 'gold' : account.rfm.r >= 4",
        "account.plan == null || account.plan == 'pro'",
        "{'smb': 1, 'enterprise': 3}[account.motion_segment] >= 1",
        "account.milestones.exists(k, k == 'ten_active_users')",
        "account.tier == \"gold\" && '''x''' == 'x' && r'\\d' == '\\\\d' // a comment",
    ],
)
def test_well_typed_triggers_pass(source: str) -> None:
    compile_trigger(source)


# --- Literal-typed fields ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "position", "value", "of"),
    [
        ("account.tier == 'gold '", 16, "gold ", "account.tier"),
        ("'bronze' != account.tier", 0, "bronze", "account.tier"),
        ("account.tier in ['gold', 'bronze']", 25, "bronze", "account.tier"),
        ("account.renewal_window == 30", 26, 30, "account.renewal_window"),
        ("account.override.colour == 'amber'", 27, "amber", "account.override.colour"),
        ("account.milestones.exists(k, k == 'ten_users')", 34, "ten_users", "k"),
    ],
)
def test_a_value_outside_a_literal_names_the_allowed_ones(
    source: str, position: int, value: str | int, of: str
) -> None:
    problem = only_problem(source)
    assert problem.position == position
    assert problem.message.startswith(f"{value!r} is not a possible value of {of} (one of ")


def test_the_allowed_values_are_the_models() -> None:
    message = only_problem("account.tier == 'bronze'").message
    assert message.endswith("(one of " + ", ".join(repr(t) for t in get_args(Tier)) + ")")
    assert all(repr(s) in only_problem("account.segment == 'x'").message for s in get_args(Segment))


@pytest.mark.parametrize(
    ("source", "position"),
    [
        ("'onboarding' in account.milestones", 0),
        ("account.milestones.onboarding < '2030-01-01'", 19),
        ("account.milestones['onboarded'] < '2030-01-01'", 19),
    ],
)
def test_a_milestone_key_outside_the_literal(source: str, position: int) -> None:
    problem = only_problem(source)
    assert problem.position == position
    assert "is not a possible key of account.milestones (one of 'onboarding_complete'" in (
        problem.message
    )


# --- Results and dates -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("account.rfm.r", "int"),
        ("account.tier", "string (one of 'silver', 'gold', 'platinum')"),
        ("account.measures", "list of MeasureScore object"),
        ("account.days_to_renewal", "int or null"),
    ],
)
def test_a_trigger_that_is_not_true_or_false(source: str, kind: str) -> None:
    assert only_problem(source) == Problem(0, 1, 1, f"a trigger must be true or false, not {kind}")


def test_infer_type_answers_any_expressions_type() -> None:
    assert infer_type("account.rfm.r + 1") == INT
    assert isinstance(infer_type("account.override"), Nullable)


def test_dates_compare_as_dates_with_a_date_literal() -> None:
    onboarded = "account.milestones.onboarding_complete >= '2030-01-01'"
    assert matches(onboarded) == (True, "the trigger is true")
    assert not matches(onboarded, milestones={"onboarding_complete": date(2029, 12, 31)})[0]
    assert matches("account.milestones['onboarding_complete'] < account.as_of")[0]
    problem = only_problem("account.as_of >= '2030-6-1'")
    assert (problem.position, problem.message) == (
        17,
        "'2030-6-1' is not a date: write 'YYYY-MM-DD'",
    )
    assert only_problem("account.as_of == '2030-02-30'").message.startswith("'2030-02-30' is not")


# --- Nulls and other failures at run time ------------------------------------------------


@pytest.mark.parametrize(
    ("source", "changes", "reason"),
    [
        (
            "account.days_to_renewal <= 60",
            {"days_to_renewal": None},
            "account.days_to_renewal is null",
        ),
        ("!(account.nps > 6)", {"nps": None}, "account.nps is null"),
        ("account.health_score + 1.0 > 50", {"health_score": None}, "account.health_score is null"),
        ("account.override.colour == 'green'", {}, "account.override is null"),
        (
            "account.measures.exists(m, m.sub_score < 50.0)",
            {"measures": [measure("nps", 80.0), measure("csat", None)]},
            "account.measures[1].sub_score is null",
        ),
        (
            "account.rfm.recency_days < 3",
            {
                "rfm": {
                    "recency_days": None,
                    "frequency": 0,
                    "monetary_minor": 0,
                    "r": 1,
                    "f": 1,
                    "m": 1,
                }
            },
            "account.rfm.recency_days is null",
        ),
        (
            "account.milestones.first_integration >= '2030-01-01'",
            {},
            "the trigger could not be evaluated: no such key 'first_integration'",
        ),
        (
            "account.paid_months / (account.rfm.r - 4) > 1",
            {},
            "the trigger could not be evaluated: division by zero in CEL expression",
        ),
    ],
)
def test_a_null_or_a_failure_is_a_miss_with_its_reason(
    source: str, changes: dict[str, Any], reason: str
) -> None:
    assert matches(source, **changes) == (False, reason)


def test_guards_and_null_comparisons() -> None:
    guarded = "account.days_to_renewal != null && account.days_to_renewal <= 60"
    assert matches(guarded, days_to_renewal=None) == (False, "the trigger is false")
    # CEL's || and && do not fail when the other side decides the answer.
    assert matches("account.nps > 6 || account.paid_months > 3", nps=None)[0]
    assert matches("account.plan == null", plan=None)[0]
    assert matches("account.plan == 'pro'", plan=None) == (False, "the trigger is false")
    assert matches("account.override != null && account.override.colour == 'green'")[1] == (
        "the trigger is false"
    )


def test_a_double_stored_as_a_whole_number_is_read_as_a_double() -> None:
    stored = snapshot()
    stored["seat_utilization"] = 1  # what a JSON round trip may leave of 1.0
    trigger = compile_trigger("account.seat_utilization + 0.0 >= 1.0")
    assert evaluate(trigger, account_context(stored)).matched


# --- The declaration and the README ------------------------------------------------------


def test_every_snapshot_field_is_declared_or_left_out_on_purpose() -> None:
    declared = {f.name for f in ACCOUNT.fields}
    top_level_excluded = {path for path in EXCLUDED if "." not in path}
    assert declared | top_level_excluded == set(Snapshot.model_fields)
    assert not declared & top_level_excluded
    override = ACCOUNT.field("override")
    assert override is not None
    assert isinstance(override.type, Nullable)
    assert isinstance(override.type.inner, Message)
    assert {f.name for f in override.type.inner.fields} == {"colour", "reason", "created_by"}


def test_every_declared_field_has_a_meaning() -> None:
    rows = fields_markdown().splitlines()[2:]
    assert rows
    assert all(not row.endswith("|  |") for row in rows), [r for r in rows if r.endswith("|  |")]


def test_the_readme_shows_the_declared_fields() -> None:
    readme = README.read_text(encoding="utf-8")
    section = readme.split("## Program triggers", 1)[1].split("\n## ", 1)[0]
    assert fields_markdown() in section


# --- Properties --------------------------------------------------------------------------

MILESTONES: tuple[str, ...] = get_args(Milestone)


def snapshots(nulls: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Valid stored snapshots; with ``nulls``, the nullable fields may be null."""

    def opt(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(st.none(), values) if nulls else values

    scores = st.floats(0, 100, allow_nan=False)
    return st.builds(
        lambda **changes: snapshot(**changes),
        tier=st.sampled_from(get_args(Tier)),
        segment=st.sampled_from(get_args(Segment)),
        billing_period=st.sampled_from(["monthly", "annual", "multi_year"]),
        paid_months=st.integers(0, 60),
        cancel_intent=st.booleans(),
        plan=opt(st.sampled_from(["pro", "basic"])),
        seat_utilization=opt(st.floats(0, 3, allow_nan=False)),
        health_score=opt(scores),
        colour=opt(st.sampled_from(["red", "yellow", "green"])),
        days_to_renewal=opt(st.integers(-400, 400)),
        renewal_window=opt(st.sampled_from([120, 90, 60])),
        nps=opt(st.integers(0, 10)),
        override=opt(st.sampled_from(["red", "yellow", "green"]).map(override)),
        measures=st.lists(
            st.builds(measure, st.sampled_from(["nps", "csat"]), opt(scores)), max_size=3
        ),
        milestones=st.dictionaries(
            st.sampled_from(MILESTONES), st.dates(date(2029, 1, 1), date(2030, 6, 15))
        ),
    )


# Operands of every kind, well or ill typed together; the checker sorts them out.
ATOMS = [
    "account.paid_months",
    "account.seat_utilization",
    "account.health_score",
    "account.days_to_renewal",
    "account.renewal_window",
    "account.nps",
    "account.tier",
    "account.plan",
    "account.colour",
    "account.cancel_intent",
    "account.as_of",
    "account.milestones",
    "account.measures",
    "account.rfm.r",
    "account.measures.size()",
    "account.milestones.onboarding_complete",
    "account.milestones['first_key_action']",
    "account.drivers[0]",
    "account.rfm",
    "account.override.colour",
    "account",
    "1",
    "2u",
    "0.5",
    "'gold'",
    "'pro'",
    "'2030-01-01'",
    "true",
    "null",
    "[1, 2]",
    "['gold', 'silver']",
    "{'a': 1}",
]
CALLS = [
    "size({})",
    "int({})",
    "double({})",
    "({}).size()",
    "({}).contains('o')",
    "({}).startsWith('g')",
    "has({}.onboarding_complete)",
]
MACROS = [
    "account.measures.exists",
    "account.measures.all",
    "account.measures.map",
    "account.measures.filter",
    "account.milestones.exists",
    "[1, 2].exists_one",
]
# How a macro's body starts: its variable (a measure, a milestone or an int) and an operator.
ITEMS = ["m.sub_score <", "m.measure ==", "m.missing &&", "m ==", "m +", "m in", "m.lost -"]
BINARY = ["==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "%", "&&", "||", "in"]


def expressions() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, st.sampled_from(BINARY), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            inner.map(lambda e: f"!{e}"),
            inner.map(lambda e: f"-{e}"),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
            st.tuples(st.sampled_from(CALLS), inner).map(lambda t: t[0].format(t[1])),
            st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
            st.tuples(inner, inner).map(lambda t: f"[{t[0]}, {t[1]}]"),
            st.tuples(st.sampled_from(MACROS), st.sampled_from(ITEMS), inner).map(
                lambda t: f"{t[0]}(m, ({t[1]} {t[2]}))"
            ),
        )

    return st.recursive(st.sampled_from(ATOMS), extend, max_leaves=6)


# A failure that is not about types: the checker cannot rule these out.
NOT_TYPE_ERRORS = (ZeroDivisionError, OverflowError, IndexError, KeyError)


@RELAXED
@given(source=expressions(), stored=snapshots(nulls=False))
def test_what_the_checker_accepts_never_fails_on_types_at_run_time(
    source: str, stored: dict[str, Any]
) -> None:
    try:
        infer_type(source)
    except TriggerError:
        assume(False)
    program = cel.compile(source)
    with contextlib.suppress(*NOT_TYPE_ERRORS):
        program.execute(account_context(stored).cel_context)


NUMBERS = [
    "account.paid_months",
    "account.seat_utilization",
    "account.health_score",
    "account.days_to_renewal",
    "account.nps",
    "account.rfm.r",
    "account.rfm.recency_days",
    "size(account.measures)",
]
CHOICES: list[tuple[str, tuple[object, ...]]] = [
    ("account.tier", get_args(Tier)),
    ("account.segment", get_args(Segment)),
    ("account.billing_period", ("monthly", "annual", "multi_year")),
    ("account.colour", ("red", "yellow", "green")),
    ("account.renewal_window", (60, 90, 120)),
]


def triggers() -> st.SearchStrategy[str]:
    """Well-typed triggers, guarded or not."""
    number = st.one_of(st.integers(-5, 100).map(str), st.floats(0, 100).map(repr))
    compared = st.tuples(
        st.sampled_from(NUMBERS), st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), number
    ).map(" ".join)
    chosen = st.sampled_from(CHOICES).flatmap(
        lambda c: st.tuples(st.just(c[0]), st.sampled_from(["==", "!="]), st.sampled_from(c[1]))
    )
    atoms = st.one_of(
        compared,
        chosen.map(lambda c: f"{c[0]} {c[1]} {c[2]!r}"),
        st.sampled_from(MILESTONES).map(lambda m: f"'{m}' in account.milestones"),
        st.just("account.cancel_intent"),
        number.map(lambda n: f"account.measures.exists(m, m.sub_score < {n})"),
        st.sampled_from(NUMBERS[1:5]).map(lambda f: f"{f} != null"),
    )
    return st.recursive(
        atoms,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["&&", "||"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            inner.map(lambda e: f"!({e})"),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
        ),
        max_leaves=6,
    )


@RELAXED
@given(source=triggers(), stored=snapshots(nulls=True))
def test_well_typed_triggers_pass_and_only_a_null_stops_one(
    source: str, stored: dict[str, Any]
) -> None:
    trigger = compile_trigger(source)
    result = evaluate(trigger, account_context(stored))
    assert result.reason in ("the trigger is true", "the trigger is false") or (
        not result.matched and result.reason.endswith(" is null")
    ), result.reason


SAMPLES = {
    "int": "3",
    "uint": "3u",
    "double": "0.5",
    "string": "'x'",
    "bool": "true",
    "null": "null",
    "list": "[1]",
    "map": "{'a': 1}",
    "date": "account.as_of",
}


@pytest.mark.parametrize("op", [*BINARY, "/"])
def test_the_checker_agrees_with_the_runtime_on_every_pair_of_kinds(op: str) -> None:
    context = account_context(snapshot()).cel_context
    for left, right in [(a, b) for a in SAMPLES for b in SAMPLES]:
        source = f"{SAMPLES[left]} {op} {SAMPLES[right]}"
        try:
            infer_type(source)
            accepted = True
        except TriggerError:
            accepted = False
        try:
            cel.compile(source).execute(context)
            runs = True
        except Exception:
            runs = False
        assert runs or not accepted, f"accepted but fails at run time: {source}"
        # Stricter only where CEL answers false, compares a date as the string it is, lets
        # || and && pass a non-bool the other side outweighs, or appends a map's keys to a list.
        stricter = (
            op in ("==", "!=", "in", "&&", "||")
            or "date" in (left, right)
            or (op, left, right) == ("+", "list", "map")
        )
        assert accepted or not runs or stricter, f"refused but CEL runs it: {source}"


@pytest.mark.parametrize(
    "source",
    [
        "!" * 500 + "true",
        "-" * 500 + "1 == 1",
        "account.cancel_intent" + " && account.cancel_intent" * 150,
        "account.paid_months" + " + 1" * 900 + " > 3",
    ],
)
def test_a_trigger_nested_past_reason_is_refused_not_a_crash(source: str) -> None:
    with pytest.raises(TriggerError) as refused:
        compile_trigger(source)
    assert "nests more than 64 levels" in refused.value.problems[0].message


def test_a_trigger_nested_as_people_write_them_is_accepted() -> None:
    compile_trigger("!" * 30 + "true")
    compile_trigger("account.paid_months" + " + 1" * 40 + " > 3")


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("(" * 120 + "true" + ")" * 120, "nests more than 96 levels deep"),
        ("'\\ud800' == account.name", "a string holds invalid unicode"),
    ],
)
def test_the_cel_parsers_own_errors_are_put_plainly(source: str, said: str) -> None:
    with pytest.raises(TriggerError) as refused:
        compile_trigger(source)
    message = refused.value.problems[0].message
    assert said in message
    assert "OtherError" not in message
    assert "{" not in message


def test_macros_nest_at_most_two_deep() -> None:
    two = "account.measures.exists(a, account.measures.exists(b, a.weight + b.weight > 150.0))"
    compile_trigger(two)
    three = (
        "account.measures.exists(a, account.measures.exists(b,"
        " account.measures.exists(c, a.weight + b.weight + c.weight > 250.0)))"
    )
    with pytest.raises(TriggerError) as refused:
        compile_trigger(three)
    [problem] = refused.value.problems
    assert "nest at most 2 deep" in problem.message
    assert three[problem.position :].startswith("exists(c")
