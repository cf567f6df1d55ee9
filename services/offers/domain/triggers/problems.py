"""A trigger's problems: ``Problem`` (what is wrong, where), ``TriggerError`` (raised with them
all) and ``ParseError`` (the tokenizer's and parser's, made a ``Problem`` when compiling)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """What is wrong with a trigger, where: ``position`` is a 0-based character offset,
    ``line`` and ``column`` are 1-based (as an editor shows them)."""

    position: int
    line: int
    column: int
    message: str


class TriggerError(ValueError):
    """A trigger that does not compile or check; ``problems`` in source order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(f"{p.line}:{p.column}: {p.message}" for p in problems))
        self.problems = tuple(problems)


def problem_at(source: str, position: int, message: str) -> Problem:
    """A problem at an offset, with the line and column an editor would show."""
    before = source[:position]
    line = before.count("\n") + 1
    return Problem(position, line, position - (before.rfind("\n") + 1) + 1, message)


class ParseError(Exception):
    """A syntax error the tokenizer or the parser met, at an offset of the source."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position
