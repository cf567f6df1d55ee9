"""The approvals inbox's pure rules: who may approve an offer or a program version now and
why not, what a version changes, and what a budget has left."""

from __future__ import annotations

from typing import Any

import pytest

from services.offers.domain.approvals import (
    ARCHIVED_PROGRAM,
    ARCHIVED_VERSION,
    VERSION_SCOPE_MISSING,
    Verdict,
    budget_left,
    changed_fields,
    offer_verdict,
    version_refusal,
)
from services.offers.domain.offers import ApprovalNeeds, ApprovalSlot
from services.offers.domain.programs import ProgramDefinition

APPROVER = frozenset({"offers:approve", "offers:read"})
FINANCE = frozenset({"offers:approve_finance", "offers:read"})
READER = frozenset({"offers:read"})


def needs(finance: bool = True, filled: dict[ApprovalSlot, str] | None = None) -> ApprovalNeeds:
    return ApprovalNeeds(
        approvals_required=2 if finance else 1,
        finance_required=finance,
        filled=filled or {},
        owner="owner",
        proposed_by="proposer",
    )


@pytest.mark.parametrize(
    ("who", "scopes", "filled", "verdict"),
    [
        ("ann", APPROVER, {}, Verdict(True, slot="approver")),
        ("fin", FINANCE, {}, Verdict(True, slot="finance")),
        ("root", frozenset({"admin"}), {}, Verdict(True, slot="finance")),
        (
            "owner",
            APPROVER,
            {},
            Verdict(False, why_not="owner owns the program, and an owner cannot approve"),
        ),
        (
            "proposer",
            APPROVER,
            {},
            Verdict(False, why_not="proposer proposed this offer, and cannot also approve it"),
        ),
        (
            "ann",
            APPROVER,
            {"approver": "ann"},
            Verdict(False, why_not="ann has already approved this offer"),
        ),
        ("fin", FINANCE, {"approver": "ann"}, Verdict(True, slot="finance")),
        (
            "bob",
            APPROVER,
            {"approver": "ann"},
            Verdict(
                False, why_not="the approval still missing is finance's (offers:approve_finance)"
            ),
        ),
        (
            "reader",
            READER,
            {},
            Verdict(False, why_not="the approval still missing takes the offers:approve scope"),
        ),
    ],
)
def test_an_offer_verdict_is_the_slot_slot_for_gives_or_its_refusal(
    who: str, scopes: frozenset[str], filled: dict[ApprovalSlot, str], verdict: Verdict
) -> None:
    assert offer_verdict(needs(filled=filled), who, scopes, program_archived=False) == verdict


def test_an_archived_programs_offer_is_refused_to_everyone_with_the_approve_endpoints_reason() -> (
    None
):
    for who, scopes in (("ann", APPROVER), ("owner", APPROVER), ("fin", FINANCE)):
        verdict = offer_verdict(needs(), who, scopes, program_archived=True)
        assert verdict == Verdict(False, why_not=ARCHIVED_PROGRAM)
    assert "archived" in ARCHIVED_PROGRAM


@pytest.mark.parametrize(
    ("approver", "scopes", "archived", "refusal"),
    [
        ("ann", APPROVER, False, None),
        ("root", frozenset({"admin"}), False, None),
        ("reader", READER, False, VERSION_SCOPE_MISSING),
        ("fin", FINANCE, False, VERSION_SCOPE_MISSING),
        # The scope is asked first, as the endpoint's dependency asks it before the rest.
        ("author", READER, False, VERSION_SCOPE_MISSING),
        ("author", APPROVER, False, "'author' wrote this version and cannot approve it"),
        (
            "new-owner",
            APPROVER,
            False,
            "'new-owner' owns this program and cannot approve its versions",
        ),
        (
            "old-owner",
            APPROVER,
            False,
            "'old-owner' owns this program and cannot approve its versions",
        ),
        ("ann", APPROVER, True, ARCHIVED_VERSION),
    ],
)
def test_a_version_refusal_takes_the_scope_then_four_eyes(
    approver: str, scopes: frozenset[str], archived: bool, refusal: str | None
) -> None:
    assert version_refusal(approver, scopes, "author", "new-owner", "old-owner", archived) == (
        refusal
    )
    assert VERSION_SCOPE_MISSING == "approving a program version takes the offers:approve scope"


def definition(**changes: Any) -> ProgramDefinition:
    body: dict[str, Any] = {
        "name": "Renewal credit",
        "owner": "owner",
        "trigger": "account.days_to_renewal <= 60",
        "reward": {"kind": "credit", "amount": {"amount_minor": 1_000}},
    }
    body.update(changes)
    # As stored: the JSON document of a validated definition, read back.
    stored = ProgramDefinition.model_validate(body).model_dump(mode="json")
    return ProgramDefinition.model_validate(stored)


def test_changed_fields_are_the_top_level_fields_that_differ_in_definition_order() -> None:
    live = definition()
    assert changed_fields(definition(), live) == []
    edited = definition(
        owner="someone-else",
        limits={"budget_minor": 5_000},
        name="Renewal credit, revised",
        holdout_percent=5,
    )
    assert changed_fields(edited, live) == ["name", "owner", "limits", "holdout_percent"]
    # A nested change names its top-level field only.
    assert changed_fields(definition(approval={"auto_approve_up_to_minor": 10}), live) == [
        "approval"
    ]


def test_a_program_never_live_changes_every_field_its_version_sets() -> None:
    assert changed_fields(definition(), None) == list(ProgramDefinition.model_fields)
    # Only what was given, for a definition built in memory from part of the fields.
    partial = ProgramDefinition.model_validate(
        {
            "name": "n",
            "owner": "o",
            "trigger": "true",
            "reward": {"kind": "perk", "perks": [{"perk": "training_credits", "quantity": 1}]},
        }
    )
    assert changed_fields(partial, None) == ["name", "owner", "trigger", "reward"]


def test_budget_left_is_the_program_cap_less_what_is_committed() -> None:
    assert budget_left(definition(), 700) is None
    assert budget_left(definition(limits={"budget_minor": 10_000}), 0) == 10_000
    assert budget_left(definition(limits={"budget_minor": 10_000}), 2_500) == 7_500
    # A cap lowered since, under what the program already commits: what is over it shows.
    assert budget_left(definition(limits={"budget_minor": 1_000}), 2_500) == -1_500
    # A tier's budget is not the program's.
    assert budget_left(definition(limits={"tier_budgets_minor": {"gold": 500}}), 0) is None
