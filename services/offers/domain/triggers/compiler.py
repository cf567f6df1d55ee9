"""Compiling a trigger: ``compile_trigger`` (and ``infer_type``) run cel's compiler, then the
parser and the checker, and give a ``Trigger`` or a ``TriggerError`` with cel's syntax errors
put plainly."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import cel

from services.offers.domain.fields import ACCOUNT, CelType, type_name
from services.offers.domain.triggers.checker import Checker
from services.offers.domain.triggers.problems import ParseError, Problem, TriggerError, problem_at
from services.offers.domain.triggers.syntax import MAX_DEPTH, Parser, too_deep
from services.offers.domain.triggers.types import Typed, kind_of

_CEL_ERROR = re.compile(r"ERROR: <input>:(\d+):(\d+): (.*)")
_PLAIN_SYNTAX = (
    (re.compile(r"mismatched input '<EOF>' expecting .*"), "the expression is incomplete"),
    (re.compile(r"missing ('.+') at '<EOF>'"), r"missing \1 at the end"),
    (re.compile(r"(?:extraneous|mismatched) input '(.+?)' expecting .*"), r"unexpected '\1'"),
    (re.compile(r"no viable alternative at input '(.+)'"), r"unexpected '\1'"),
    (re.compile(r"token recognition error at: '(.+)'"), r"cannot read '\1'"),
    # The Rust parser's own errors, which cel passes on in their debug form.
    (
        re.compile(r'OtherError\(ParseError \{.*msg: "Recursion limit of (\d+) exceeded".*'),
        r"the expression nests more than \1 levels deep",
    ),
    (re.compile(r"invalid string literal: InvalidUnicode.*"), "a string holds invalid unicode"),
    (re.compile(r"invalid string literal: .*"), "a string literal cannot be read"),
)


def _syntax_problem(source: str, error: str) -> Problem:
    """The first problem of cel's parse error, its 1-based line:column made an offset."""
    found = _CEL_ERROR.search(error)
    if found is None:
        return problem_at(source, 0, f"syntax error: {error}")
    line, column, message = int(found[1]), int(found[2]), found[3].strip()
    lines = source.split("\n")
    position = sum(len(text) + 1 for text in lines[: line - 1]) + column - 1
    message = message.removeprefix("Syntax error: ")
    for pattern, plain in _PLAIN_SYNTAX:
        if pattern.fullmatch(message):
            message = pattern.sub(plain, message)
            break
    return problem_at(source, min(position, len(source)), f"syntax error: {message}")


ALL_FIELDS = frozenset(f.name for f in ACCOUNT.fields)


@dataclass(frozen=True)
class Trigger:
    """A checked trigger: its source and the cel program compiled from it once."""

    source: str
    program: cel.Program = field(compare=False, repr=False)
    # The top-level snapshot fields it reads (what its evaluation context must hold).
    fields: frozenset[str] = ALL_FIELDS
    # Nullable snapshot fields it reads, to name the null one when evaluation fails.
    nullable_paths: tuple[str, ...] = ()


def _checked(source: str) -> tuple[cel.Program, Typed, Checker]:
    try:
        program = cel.compile(source)
    except ValueError as error:
        raise TriggerError([_syntax_problem(source, str(error))]) from None
    try:
        tree = Parser(source).parse()
    except ParseError as error:
        raise TriggerError([problem_at(source, error.position, str(error))]) from None
    deep = too_deep(tree)
    if deep is not None:
        message = f"the trigger nests more than {MAX_DEPTH} levels deep; split or simplify it"
        raise TriggerError([problem_at(source, deep.start, message)])
    checker = Checker(source)
    typed = checker.check(tree, {})
    if checker.problems:
        raise TriggerError(sorted(checker.problems, key=lambda p: p.position))
    return program, typed, checker


def infer_type(source: str) -> CelType:
    """The type of a CEL expression over ``account``; raises ``TriggerError`` if it is not
    valid (the same checks as ``compile_trigger`` but for the result being a bool)."""
    return _checked(source)[1].type


def compile_trigger(source: str) -> Trigger:
    """Compile and check a trigger (a CEL expression over ``account`` that is true or false);
    raises ``TriggerError`` with every problem found and its position."""
    program, typed, checker = _checked(source)
    if kind_of(typed.type) != "bool":
        problem = problem_at(
            source, 0, f"a trigger must be true or false, not {type_name(typed.type)}"
        )
        raise TriggerError([problem])
    fields = ALL_FIELDS if checker.whole_account else frozenset(checker.fields)
    return Trigger(source, program, fields, tuple(sorted(checker.nullable_paths)))
