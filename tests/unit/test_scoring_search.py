"""Searching scores by part of an account's id or name: the pattern matches the text as typed."""

from __future__ import annotations

from services.scoring.domain.search import contains_pattern


def test_a_search_is_a_contains_pattern_of_the_stripped_text() -> None:
    assert contains_pattern("  acme ") == "%acme%"


def test_wildcards_and_the_escape_character_match_themselves() -> None:
    assert contains_pattern("50%_off") == "%50\\%\\_off%"
    assert contains_pattern("a\\b") == "%a\\\\b%"
