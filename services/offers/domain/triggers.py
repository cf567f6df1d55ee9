"""Program triggers: CEL expressions over an account's snapshot, checked when saved.

The ``cel`` package compiles and runs CEL but has no type checker and no syntax tree, so a
trigger is parsed a second time here (a small recursive-descent parser of the CEL grammar)
and its types inferred over the declared fields (``fields.ACCOUNT``): an unknown field, a
comparison of mismatched types, a value outside a field's allowed ones or a non-bool result is
a problem with its position when the trigger is saved, not a surprise while it runs.

The checker follows the runtime's rules: numbers of different kinds compare (``1 < 1.5``) but
never mix in arithmetic (``1 + 1.5`` is refused), ``%`` is for integers only. It is stricter
where the runtime would quietly answer false: ``account.tier == 3`` is refused, not false.
A nullable field may be used without a guard: a comparison that meets a null raises in CEL,
and evaluation answers "did not match" with the field that was null.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import cel

from services.offers.domain.fields import (
    ACCOUNT,
    BOOL,
    DATE,
    DOUBLE,
    DYN,
    EXCLUDED,
    INT,
    NULL,
    STRING,
    UINT,
    CelType,
    ListOf,
    MapOf,
    Message,
    Nullable,
    Scalar,
    type_name,
)

# --- Problems ----------------------------------------------------------------------------


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


def _problem(source: str, position: int, message: str) -> Problem:
    """A problem at an offset, with the line and column an editor would show."""
    before = source[:position]
    line = before.count("\n") + 1
    return Problem(position, line, position - (before.rfind("\n") + 1) + 1, message)


class _SyntaxError(Exception):
    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position


# --- Tokens ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "int", "uint", "double", "string", "bytes", "bool", "null", "ident", "op", "end"
    text: str
    start: int
    end: int
    value: Any = None


_OPERATORS = ("==", "!=", "<=", ">=", "&&", "||", *"<>!+-*/%?:.,()[]{}")
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F]+[uU]?|(?:\d+\.\d+|\.\d+|\d+)(?:[eE][+-]?\d+)?[uU]?", re.ASCII
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPACE = re.compile(r"(?:[ \t\n\r\f]+|//[^\n]*)+")
_STRING_START = re.compile(r"([rRbB]{0,2})('''|\"\"\"|'|\")")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_ESCAPE = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-3][0-7]{2}|.)", re.S)


def _unescape(raw: str) -> str:
    def one(m: re.Match[str]) -> str:
        body = m.group()[1:]
        if body[0] in "xuU":
            return chr(int(body[1:], 16))
        if body[0].isdigit():
            return chr(int(body, 8))
        return _ESCAPES.get(body, body)

    return _ESCAPE.sub(one, raw)


def _tokens(source: str) -> list[_Token]:
    out: list[_Token] = []
    i = 0
    while True:
        if m := _SPACE.match(source, i):
            i = m.end()
        if i >= len(source):
            out.append(_Token("end", "", i, i))
            return out
        if m := _STRING_START.match(source, i):
            out.append(_string(source, i, m.group(1).lower(), m.group(2)))
        elif (m := _NUMBER.match(source, i)) and not (source[i] == "." and out and _ends(out[-1])):
            out.append(_number(m.group(), i))
        elif m := _IDENT.match(source, i):
            word = m.group()
            kind = {"true": "bool", "false": "bool", "null": "null", "in": "op"}.get(word, "ident")
            out.append(_Token(kind, word, i, m.end(), word == "true" if kind == "bool" else None))
        else:
            op = next((o for o in _OPERATORS if source.startswith(o, i)), None)
            if op is None:
                raise _SyntaxError(i, f"unexpected character {source[i]!r}")
            out.append(_Token("op", op, i, i + len(op)))
        i = out[-1].end


def _ends(token: _Token) -> bool:
    """Whether a token can end an operand (so a following '.' is member access)."""
    return token.kind != "op" or token.text in (")", "]", "}")


def _string(source: str, start: int, prefix: str, quote: str) -> _Token:
    body = start + len(prefix) + len(quote)
    i = body
    while True:
        if i >= len(source) or (len(quote) == 1 and source[i] == "\n"):
            raise _SyntaxError(start, "a string is not closed")
        if source.startswith(quote, i):
            break
        i += 2 if source[i] == "\\" and "r" not in prefix else 1
    raw = source[body:i]
    value = raw if "r" in prefix else _unescape(raw)
    kind = "bytes" if "b" in prefix else "string"
    return _Token(kind, source[start : i + len(quote)], start, i + len(quote), value)


def _number(text: str, start: int) -> _Token:
    end = start + len(text)
    if text[-1] in "uU":
        return _Token("uint", text, start, end, int(text[:-1], 0))
    if text.lower().startswith("0x"):
        return _Token("int", text, start, end, int(text, 16))
    if any(c in text for c in ".eE"):
        return _Token("double", text, start, end, float(text))
    return _Token("int", text, start, end, int(text))


# --- Syntax tree -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    start: int
    end: int


@dataclass(frozen=True)
class _Lit(_Node):
    kind: str
    value: Any


@dataclass(frozen=True)
class _Ident(_Node):
    name: str


@dataclass(frozen=True)
class _Select(_Node):
    operand: _Node
    name: str
    name_at: int


@dataclass(frozen=True)
class _Index(_Node):
    operand: _Node
    index: _Node


@dataclass(frozen=True)
class _Call(_Node):
    target: _Node | None
    name: str
    name_at: int
    args: tuple[_Node, ...]


@dataclass(frozen=True)
class _Unary(_Node):
    op: str
    operand: _Node


@dataclass(frozen=True)
class _Binary(_Node):
    op: str
    op_at: int
    left: _Node
    right: _Node


@dataclass(frozen=True)
class _Ternary(_Node):
    cond: _Node
    then: _Node
    other: _Node


@dataclass(frozen=True)
class _List(_Node):
    items: tuple[_Node, ...]


@dataclass(frozen=True)
class _Map(_Node):
    entries: tuple[tuple[_Node, _Node], ...]


_LEVELS: tuple[tuple[str, ...], ...] = (
    ("||",),
    ("&&",),
    ("==", "!=", "<", "<=", ">", ">=", "in"),
    ("+", "-"),
    ("*", "/", "%"),
)


class _Parser:
    """CEL's grammar, by precedence: ternary, ||, &&, relations, + -, * / %, unary, member."""

    def __init__(self, source: str) -> None:
        self.tokens = _tokens(source)
        self.i = 0

    def parse(self) -> _Node:
        node = self.expr()
        if self.peek.kind != "end":
            raise _SyntaxError(self.peek.start, f"unexpected {self.peek.text!r}")
        return node

    @property
    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def at(self, op: str) -> bool:
        return self.peek.kind == "op" and self.peek.text == op

    def expect(self, op: str) -> _Token:
        if not self.at(op):
            raise _SyntaxError(self.peek.start, f"expected {op!r}")
        return self.take()

    def expr(self) -> _Node:
        cond = self.binary(0)
        if not self.at("?"):
            return cond
        self.take()
        then = self.binary(0)
        self.expect(":")
        other = self.expr()
        return _Ternary(cond.start, other.end, cond, then, other)

    def binary(self, level: int) -> _Node:
        if level == len(_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek.kind == "op" and self.peek.text in _LEVELS[level]:
            op = self.take()
            right = self.binary(level + 1)
            left = _Binary(left.start, right.end, op.text, op.start, left, right)
        return left

    def unary(self) -> _Node:
        if self.at("!") or self.at("-"):
            op = self.take()
            operand = self.unary()
            return _Unary(op.start, operand.end, op.text, operand)
        return self.member()

    def member(self) -> _Node:
        node = self.primary()
        while True:
            if self.at("."):
                self.take()
                name = self.take()
                if name.kind != "ident":
                    raise _SyntaxError(name.start, "expected a field or function name after '.'")
                if self.at("("):
                    args, end = self.arguments(")")
                    node = _Call(node.start, end, node, name.text, name.start, args)
                else:
                    node = _Select(node.start, name.end, node, name.text, name.start)
            elif self.at("["):
                self.take()
                index = self.expr()
                end = self.expect("]").end
                node = _Index(node.start, end, node, index)
            elif self.at("{"):
                raise _SyntaxError(self.peek.start, "messages are not supported in a trigger")
            else:
                return node

    def arguments(self, close: str) -> tuple[tuple[_Node, ...], int]:
        self.take()
        items: list[_Node] = []
        while not self.at(close):
            items.append(self.expr())
            if not self.at(close):
                self.expect(",")
        return tuple(items), self.take().end

    def primary(self) -> _Node:
        token = self.peek
        if token.kind in ("int", "uint", "double", "string", "bool", "null"):
            self.take()
            return _Lit(token.start, token.end, token.kind, token.value)
        if token.kind == "bytes":
            raise _SyntaxError(token.start, "bytes are not supported in a trigger")
        if token.kind == "ident":
            self.take()
            if self.at("("):
                args, end = self.arguments(")")
                return _Call(token.start, end, None, token.text, token.start, args)
            return _Ident(token.start, token.end, token.text)
        if self.at("("):
            self.take()
            inner = self.expr()
            self.expect(")")
            return inner
        if self.at("["):
            items, end = self.arguments("]")
            return _List(token.start, end, items)
        if self.at("{"):
            self.take()
            entries: list[tuple[_Node, _Node]] = []
            while not self.at("}"):
                key = self.expr()
                self.expect(":")
                entries.append((key, self.expr()))
                if not self.at("}"):
                    self.expect(",")
            return _Map(token.start, self.take().end, tuple(entries))
        if token.kind == "end":
            raise _SyntaxError(token.start, "the expression is incomplete")
        if self.at("."):
            raise _SyntaxError(token.start, "a leading '.' is not supported in a trigger")
        raise _SyntaxError(token.start, f"unexpected {token.text!r}")


# --- Types -------------------------------------------------------------------------------

_NUMERIC = ("int", "uint", "double")
_GLOBALS = ("size", "has", "int", "double")
_METHODS = ("size", "contains", "startsWith", "endsWith")
_MACROS = ("exists", "all", "exists_one", "map", "filter")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


@dataclass(frozen=True)
class _Typed:
    type: CelType
    # Where a value read from the snapshot comes from ("rfm.recency_days", "measures[]"),
    # so evaluation can say which field was null.
    path: str | None = None


def _bare(t: CelType) -> CelType:
    """The type without its nullability (a null operand is a run-time miss, by design)."""
    return t.inner if isinstance(t, Nullable) else t


def _kind(t: CelType) -> str | None:
    t = _bare(t)
    return t.kind if isinstance(t, Scalar) else None


def _plain(t: CelType) -> CelType:
    """A scalar without its allowed values (what arithmetic on a Literal field yields)."""
    t = _bare(t)
    return Scalar(t.kind) if isinstance(t, Scalar) else t


def _unify(a: CelType, b: CelType) -> CelType | None:
    """The one type both values have (an empty list's items fit any), else None."""
    if a == DYN:
        return b
    if b == DYN or a == b:
        return a
    if isinstance(a, Scalar) and isinstance(b, Scalar) and a.kind == b.kind:
        return Scalar(a.kind)
    if NULL in (a, b):
        # A literal null beside a value would reach operators that refuse it.
        return None
    if isinstance(a, Nullable) or isinstance(b, Nullable):
        inner = _unify(_bare(a), _bare(b))
        return None if inner is None else Nullable(inner)
    if isinstance(a, ListOf) and isinstance(b, ListOf):
        item = _unify(a.item, b.item)
        return None if item is None else ListOf(item)
    if isinstance(a, MapOf) and isinstance(b, MapOf):
        key, value = _unify(a.key, b.key), _unify(a.value, b.value)
        return None if key is None or value is None else MapOf(key, value)
    return None


def _equatable(a: CelType, b: CelType) -> bool:
    """Whether ``==`` between the two is meaningful (the runtime answers false otherwise)."""
    if DYN in (a, b):
        return True
    if NULL in (a, b):
        other = b if a == NULL else a
        return isinstance(other, Nullable) or other == NULL
    a, b = _bare(a), _bare(b)
    if isinstance(a, Scalar) and isinstance(b, Scalar):
        return a.kind == b.kind or (a.kind in _NUMERIC and b.kind in _NUMERIC)
    if isinstance(a, ListOf) and isinstance(b, ListOf):
        return _equatable(a.item, b.item)
    if isinstance(a, MapOf) and isinstance(b, MapOf):
        return _equatable(a.key, b.key) and _equatable(a.value, b.value)
    return isinstance(a, Message) and isinstance(b, Message) and a.name == b.name


def _orderable(a: CelType, b: CelType) -> bool:
    if DYN in (a, b):
        return True
    ka, kb = _kind(a), _kind(b)
    if ka is None or kb is None or "null" in (ka, kb):
        return False
    return ka == kb or (ka in _NUMERIC and kb in _NUMERIC)


def _arithmetic(op: str, a: CelType, b: CelType) -> CelType | None:
    a, b = _plain(a), _plain(b)
    if DYN in (a, b):
        return b if a == DYN else a
    if op == "+" and isinstance(a, ListOf) and isinstance(b, ListOf):
        return _unify(a, b)
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        return None
    if op == "%":
        return a if ka in ("int", "uint") else None
    if op == "+" and ka == "string":
        return a
    return a if ka in _NUMERIC else None


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.nullable_paths: set[str] = set()
        # The top-level snapshot fields read, so a context need hold only those.
        self.fields: set[str] = set()
        self.whole_account = False

    def fail(self, position: int, message: str) -> _Typed:
        """Record a problem; the sub-expression then fits anywhere, so it is reported once."""
        self.problems.append(_problem(self.source, position, message))
        return _Typed(DYN)

    def text(self, node: _Node) -> str:
        return self.source[node.start : node.end]

    def described(self, node: _Node, typed: _Typed) -> str:
        return f"{self.text(node)} ({type_name(typed.type)})"

    def check(self, node: _Node, env: Mapping[str, _Typed]) -> _Typed:
        if isinstance(node, _Lit):
            return _Typed(_LITERAL_TYPES[node.kind])
        if isinstance(node, _Ident):
            if node.name == "account":
                self.whole_account = True
                return _Typed(ACCOUNT, "")
            if node.name in env:
                return env[node.name]
            return self.fail(node.start, f"unknown name {node.name!r}: a trigger reads account")
        if isinstance(node, _Select):
            return self.select(node, self.operand(node.operand, env))
        if isinstance(node, _Index):
            return self.index(node, env)
        if isinstance(node, _Call):
            return self.call(node, env)
        if isinstance(node, _Unary):
            return self.unary(node, env)
        if isinstance(node, _Binary):
            return self.binary(node, env)
        if isinstance(node, _Ternary):
            return self.ternary(node, env)
        if isinstance(node, _List):
            return self.list_literal(node, env)
        assert isinstance(node, _Map)
        return self.map_literal(node, env)

    def operand(self, node: _Node, env: Mapping[str, _Typed]) -> _Typed:
        """The operand of ``.`` or ``[]``: reading a field of account does not read all of it."""
        if isinstance(node, _Ident) and node.name == "account":
            return _Typed(ACCOUNT, "")
        return self.check(node, env)

    def require_bool(self, node: _Node, env: Mapping[str, _Typed], what: str) -> None:
        typed = self.check(node, env)
        if _kind(typed.type) not in ("bool", "dyn"):
            self.fail(
                node.start, f"{what} must be true or false, not {self.described(node, typed)}"
            )

    def member(self, owner: _Typed, node: _Node, name: str, at: int) -> _Typed:
        """The field ``name`` of a message or the value at key ``name`` of a map."""
        t = _bare(owner.type)
        path = None if owner.path is None else f"{owner.path}.{name}".lstrip(".")
        if t == DYN:
            return _Typed(DYN)
        if isinstance(t, Message):
            found = t.field(name)
            if found is None and path in EXCLUDED:
                return self.fail(at, f"account.{path} is left out of what a trigger may read")
            if found is None:
                names = [f.name for f in t.fields]
                close = difflib.get_close_matches(name, names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                return self.fail(at, f"{self.text(node)} has no field {name!r}{hint}")
            if t is ACCOUNT:
                self.fields.add(name)
            if isinstance(found.type, Nullable) and path is not None:
                self.nullable_paths.add(path)
            return _Typed(found.type, path)
        if isinstance(t, MapOf) and _kind(t.key) in ("string", "dyn"):
            if not self.allowed(t.key, name, at, self.text(node), "key"):
                return _Typed(DYN)
            return _Typed(t.value)
        return self.fail(at, f"{self.described(node, owner)} has no fields")

    def allowed(self, t: CelType, value: object, at: int, of: str, noun: str = "value") -> bool:
        """Whether a literal is one of a Literal-typed value's allowed ones (else a problem)."""
        values = _values(t)
        if values is None or value in values:
            return True
        listed = ", ".join(repr(v) for v in values)
        self.fail(at, f"{value!r} is not a possible {noun} of {of} (one of {listed})")
        return False

    def select(self, node: _Select, owner: _Typed) -> _Typed:
        return self.member(owner, node.operand, node.name, node.name_at)

    def index(self, node: _Index, env: Mapping[str, _Typed]) -> _Typed:
        owner = self.operand(node.operand, env)
        key = self.check(node.index, env)
        t = _bare(owner.type)
        if t == DYN or key.type == DYN:
            return _Typed(DYN)
        if isinstance(t, ListOf):
            if _kind(key.type) not in ("int", "uint"):
                return self.fail(node.index.start, "a list index must be an int")
            return _Typed(t.item, None if owner.path is None else f"{owner.path}[]")
        literal = node.index.value if isinstance(node.index, _Lit) else None
        if isinstance(t, Message) and isinstance(literal, str):
            return self.member(owner, node.operand, literal, node.index.start)
        if isinstance(t, MapOf):
            if not _equatable(t.key, key.type):
                return self.fail(
                    node.index.start,
                    f"{self.text(node.operand)} keys are "
                    f"{type_name(t.key)}, not {type_name(key.type)}",
                )
            if literal is not None:
                self.allowed(t.key, literal, node.index.start, self.text(node.operand), "key")
            return _Typed(t.value)
        return self.fail(
            node.index.start, f"{self.described(node.operand, owner)} cannot be indexed"
        )

    def unary(self, node: _Unary, env: Mapping[str, _Typed]) -> _Typed:
        typed = self.check(node.operand, env)
        kind = _kind(typed.type)
        if kind == "dyn":
            return typed
        if node.op == "!" and kind == "bool":
            return _Typed(BOOL)
        if node.op == "-" and kind in ("int", "double"):
            return _Typed(_plain(typed.type))
        need = "true or false" if node.op == "!" else "an int or a double"
        return self.fail(
            node.start, f"{node.op} needs {need}, not {self.described(node.operand, typed)}"
        )

    def binary(self, node: _Binary, env: Mapping[str, _Typed]) -> _Typed:
        if node.op in ("&&", "||"):
            self.require_bool(node.left, env, f"each side of {node.op}")
            self.require_bool(node.right, env, f"each side of {node.op}")
            return _Typed(BOOL)
        left, right = self.check(node.left, env), self.check(node.right, env)
        if node.op == "in":
            return self.membership(node, left, right)
        if node.op in ("==", "!=", "<", "<=", ">", ">="):
            return self.comparison(node, left, right)
        result = _arithmetic(node.op, left.type, right.type)
        if result is None:
            return self.fail(
                node.op_at,
                f"cannot apply {node.op} to "
                f"{self.described(node.left, left)} and "
                f"{self.described(node.right, right)}",
            )
        return _Typed(result)

    def comparison(self, node: _Binary, left: _Typed, right: _Typed) -> _Typed:
        for this, this_node, other in ((left, node.left, right), (right, node.right, left)):
            never = not isinstance(this.type, Nullable) and this.type not in (NULL, DYN)
            if node.op in ("==", "!=") and other.type == NULL and never:
                return self.fail(node.op_at, f"{self.text(this_node)} is never null")
        ok = _equatable if node.op in ("==", "!=") else _orderable
        if not ok(left.type, right.type) and not self.dated(node, left, right):
            why = "compare" if node.op in ("==", "!=") else "order"
            return self.fail(
                node.op_at,
                f"cannot {why} {self.described(node.left, left)} "
                f"with {self.described(node.right, right)}",
            )
        if _disjoint(left.type, right.type):
            return self.fail(
                node.op_at,
                f"{self.text(node.left)} and {self.text(node.right)} never have the same value",
            )
        self.values_fit(left.type, node.right, self.text(node.left))
        self.values_fit(right.type, node.left, self.text(node.right))
        return _Typed(BOOL)

    def dated(self, node: _Binary, left: _Typed, right: _Typed) -> bool:
        """A date compared with a string literal: fine when the literal is a 'YYYY-MM-DD'."""
        for this, other in ((left, node.right), (right, node.left)):
            if _bare(this.type) == DATE and isinstance(other, _Lit) and other.kind == "string":
                if not _is_date(other.value):
                    self.fail(other.start, f"{other.value!r} is not a date: write 'YYYY-MM-DD'")
                return True
        return False

    def values_fit(self, t: CelType, node: _Node, what: str, noun: str = "value") -> None:
        """Literals (``node``, or the items of a list literal) compared with a Literal-typed
        value (of type ``t``, named by ``what``) must be among its values."""
        if _values(t) is None:
            return
        literals = node.items if isinstance(node, _List) else (node,)
        for item in literals:
            if isinstance(item, _Lit) and item.kind in ("string", "int"):
                self.allowed(t, item.value, item.start, what, noun)

    def membership(self, node: _Binary, left: _Typed, right: _Typed) -> _Typed:
        t = _bare(right.type)
        if t == DYN:
            return _Typed(BOOL)
        if not isinstance(t, ListOf | MapOf):
            return self.fail(
                node.op_at,
                f"in needs a list or a map on its right, not {self.described(node.right, right)}",
            )
        item = t.item if isinstance(t, ListOf) else t.key
        if not _equatable(left.type, item):
            return self.fail(
                node.op_at,
                f"{self.described(node.left, left)} cannot be in "
                f"{self.described(node.right, right)}",
            )
        noun = "item" if isinstance(t, ListOf) else "key"
        if _disjoint(left.type, item):
            return self.fail(
                node.op_at,
                f"{self.text(node.left)} is never one of {self.text(node.right)}'s {noun}s",
            )
        self.values_fit(item, node.left, self.text(node.right), noun)
        if isinstance(node.right, _List):
            self.values_fit(left.type, node.right, self.text(node.left))
        return _Typed(BOOL)

    def ternary(self, node: _Ternary, env: Mapping[str, _Typed]) -> _Typed:
        self.require_bool(node.cond, env, "the condition before ?")
        then, other = self.check(node.then, env), self.check(node.other, env)
        result = _unify(then.type, other.type)
        if result is None:
            return self.fail(
                node.then.start,
                f"the two branches of ?: differ: "
                f"{type_name(then.type)} and {type_name(other.type)}",
            )
        return _Typed(result)

    def list_literal(self, node: _List, env: Mapping[str, _Typed]) -> _Typed:
        item: CelType = DYN
        for element in node.items:
            typed = self.check(element, env)
            joined = _unify(item, typed.type)
            if joined is None:
                return self.fail(element.start, "a list's items must all have one type")
            item = joined
        return _Typed(ListOf(item))

    def map_literal(self, node: _Map, env: Mapping[str, _Typed]) -> _Typed:
        key: CelType = DYN
        value: CelType = DYN
        for k, v in node.entries:
            kt, vt = self.check(k, env).type, self.check(v, env).type
            if _kind(kt) not in ("int", "uint", "string", "bool", "dyn"):
                return self.fail(k.start, "a map key must be an int, a string or a bool")
            new_key, new_value = _unify(key, kt), _unify(value, vt)
            if new_key is None or new_value is None:
                return self.fail(k.start, "a map's keys, and its values, must each have one type")
            key, value = new_key, new_value
        return _Typed(MapOf(key, value))

    def call(self, node: _Call, env: Mapping[str, _Typed]) -> _Typed:
        if node.target is None:
            return self.function(node, env)
        if node.name in _MACROS:
            return self.macro(node, env)
        if node.name not in _METHODS:
            return self.unknown_function(node)
        receiver = self.check(node.target, env)
        args = [self.check(a, env) for a in node.args]
        if node.name == "size":
            return self.size(node, node.target, receiver, len(args))
        if len(args) != 1:
            return self.fail(node.name_at, f"{node.name} takes one argument")
        if _kind(receiver.type) not in ("string", "dyn"):
            return self.fail(
                node.name_at,
                f"{node.name} needs a string, not {self.described(node.target, receiver)}",
            )
        if _kind(args[0].type) not in ("string", "dyn"):
            return self.fail(node.args[0].start, f"{node.name} needs a string argument")
        return _Typed(BOOL)

    def unknown_function(self, node: _Call) -> _Typed:
        known = ", ".join((*_GLOBALS, *(f".{m}" for m in _METHODS + _MACROS)))
        return self.fail(node.name_at, f"unknown function {node.name!r}: a trigger may use {known}")

    def size(self, node: _Call, of: _Node, typed: _Typed, count: int) -> _Typed:
        if count != (0 if node.target is not None else 1):
            return self.fail(node.name_at, "size takes one value")
        t = _bare(typed.type)
        if t == DYN or _kind(t) == "string" or isinstance(t, ListOf | MapOf):
            return _Typed(INT)
        return self.fail(
            node.name_at, f"size needs a string, a list or a map, not {self.described(of, typed)}"
        )

    def function(self, node: _Call, env: Mapping[str, _Typed]) -> _Typed:
        if node.name not in _GLOBALS:
            return self.unknown_function(node)
        if len(node.args) != 1:
            return self.fail(node.name_at, f"{node.name} takes one argument")
        arg = node.args[0]
        if node.name == "has":
            if not isinstance(arg, _Select):
                return self.fail(arg.start, "has needs a field: has(account.override)")
            owner = self.operand(arg.operand, env)
            found = self.select(arg, owner)
            if isinstance(_bare(owner.type), Message) and found.type != DYN:
                # The context holds every declared field, so has() would always be true.
                return self.fail(
                    node.name_at,
                    f"{self.text(arg)} is always present: compare it with null instead",
                )
            return _Typed(BOOL)
        typed = self.check(arg, env)
        if node.name == "size":
            return self.size(node, arg, typed, 1)
        if _kind(typed.type) not in (*_NUMERIC, "dyn"):
            return self.fail(
                arg.start, f"{node.name} needs a number, not {self.described(arg, typed)}"
            )
        return _Typed(INT if node.name == "int" else DOUBLE)

    def macro(self, node: _Call, env: Mapping[str, _Typed]) -> _Typed:
        assert node.target is not None
        arity = (2, 3) if node.name == "map" else (2,)
        if len(node.args) not in arity:
            return self.fail(
                node.name_at, f"{node.name} takes a name and an expression: {node.name}(m, ...)"
            )
        var = node.args[0]
        if not isinstance(var, _Ident):
            return self.fail(var.start, f"{node.name} needs a simple name first")
        if var.name == "account" or var.name in env:
            return self.fail(var.start, f"the name {var.name!r} is already in use")
        receiver = self.check(node.target, env)
        t = _bare(receiver.type)
        if t == DYN:
            item = _Typed(DYN)
        elif isinstance(t, ListOf):
            item = _Typed(t.item, None if receiver.path is None else f"{receiver.path}[]")
        elif isinstance(t, MapOf):
            item = _Typed(t.key)
        else:
            return self.fail(
                node.name_at,
                f"{node.name} needs a list or a map, not {self.described(node.target, receiver)}",
            )
        inner = {**env, var.name: item}
        body = node.args[1:]
        if node.name == "map":
            if len(body) == 2:
                self.require_bool(body[0], inner, f"the filter of {node.name}")
            return _Typed(ListOf(self.check(body[-1], inner).type))
        self.require_bool(body[0], inner, f"the condition of {node.name}")
        return _Typed(ListOf(item.type) if node.name == "filter" else BOOL)


_LITERAL_TYPES: dict[str, CelType] = {
    "int": INT,
    "uint": UINT,
    "double": DOUBLE,
    "string": STRING,
    "bool": BOOL,
    "null": NULL,
}


def _values(t: CelType) -> tuple[str | int, ...] | None:
    """The allowed values of a Literal-typed value, if it is one."""
    bare = _bare(t)
    return bare.values if isinstance(bare, Scalar) else None


def _disjoint(a: CelType, b: CelType) -> bool:
    """Whether two Literal-typed values can never be equal."""
    values, other = _values(a), _values(b)
    return values is not None and other is not None and not set(values) & set(other)


def _is_date(text: str) -> bool:
    if not _ISO_DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


# --- Compiling ---------------------------------------------------------------------------

_CEL_ERROR = re.compile(r"ERROR: <input>:(\d+):(\d+): (.*)")
_PLAIN_SYNTAX = (
    (re.compile(r"mismatched input '<EOF>' expecting .*"), "the expression is incomplete"),
    (re.compile(r"missing ('.+') at '<EOF>'"), r"missing \1 at the end"),
    (re.compile(r"(?:extraneous|mismatched) input '(.+?)' expecting .*"), r"unexpected '\1'"),
    (re.compile(r"no viable alternative at input '(.+)'"), r"unexpected '\1'"),
    (re.compile(r"token recognition error at: '(.+)'"), r"cannot read '\1'"),
)


def _syntax_problem(source: str, error: str) -> Problem:
    """The first problem of cel's parse error, its 1-based line:column made an offset."""
    found = _CEL_ERROR.search(error)
    if found is None:
        return _problem(source, 0, f"syntax error: {error}")
    line, column, message = int(found[1]), int(found[2]), found[3].strip()
    lines = source.split("\n")
    position = sum(len(text) + 1 for text in lines[: line - 1]) + column - 1
    message = message.removeprefix("Syntax error: ")
    for pattern, plain in _PLAIN_SYNTAX:
        if pattern.fullmatch(message):
            message = pattern.sub(plain, message)
            break
    return _problem(source, min(position, len(source)), f"syntax error: {message}")


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


def _checked(source: str) -> tuple[cel.Program, _Typed, _Checker]:
    try:
        program = cel.compile(source)
    except ValueError as error:
        raise TriggerError([_syntax_problem(source, str(error))]) from None
    try:
        tree = _Parser(source).parse()
    except _SyntaxError as error:
        raise TriggerError([_problem(source, error.position, str(error))]) from None
    checker = _Checker(source)
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
    if _kind(typed.type) != "bool":
        problem = _problem(
            source, 0, f"a trigger must be true or false, not {type_name(typed.type)}"
        )
        raise TriggerError([problem])
    fields = ALL_FIELDS if checker.whole_account else frozenset(checker.fields)
    return Trigger(source, program, fields, tuple(sorted(checker.nullable_paths)))


# --- Evaluating --------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountContext:
    """One account's snapshot as CEL reads it, built once for all its programs' triggers:
    ``fields`` are the top-level fields it holds."""

    account: Mapping[str, Any]
    fields: frozenset[str]
    cel_context: cel.Context = field(compare=False, repr=False)


@dataclass(frozen=True)
class TriggerResult:
    """Whether a trigger matched an account, and why not when it could not be evaluated."""

    matched: bool
    reason: str


# Shared, as building a result is a good part of the cost of an evaluation.
_TRUE = TriggerResult(True, "the trigger is true")
_FALSE = TriggerResult(False, "the trigger is false")


def _cel_value(t: CelType, value: Any) -> Any:
    """A stored JSON value as the declared type reads it (only declared fields, and doubles
    as floats: JSON may hold ``1`` where the model holds ``1.0``, and CEL's int and double do
    not mix in arithmetic)."""
    if value is None:
        return None
    if isinstance(t, Nullable):
        return _cel_value(t.inner, value)
    if isinstance(t, Message):
        return {f.name: _cel_value(f.type, value[f.name]) for f in t.fields}
    if isinstance(t, ListOf):
        return [_cel_value(t.item, v) for v in value]
    if isinstance(t, MapOf):
        return {k: _cel_value(t.value, v) for k, v in value.items()}
    return float(value) if t == DOUBLE else value


def account_context(
    snapshot: Mapping[str, Any], triggers: Iterable[Trigger] | None = None
) -> AccountContext:
    """The evaluation context of one account, from its snapshot as stored
    (``Snapshot.model_dump(mode="json")``), holding the fields the given triggers read (all
    the declared ones by default). Build it once per account and evaluate each trigger on it:
    converting the snapshot is most of the cost, a field left out is time saved."""
    names = ALL_FIELDS if triggers is None else frozenset().union(*(t.fields for t in triggers))
    account = {
        f.name: _cel_value(f.type, snapshot[f.name]) for f in ACCOUNT.fields if f.name in names
    }
    return AccountContext(account, names, cel.Context(variables={"account": account}))


def evaluate(trigger: Trigger, context: AccountContext) -> TriggerResult:
    """Whether the account matches the trigger. Whatever the snapshot holds it answers: a
    trigger that meets a null (or any other run-time error) did not match, and the reason says
    why. A context built without a field the trigger reads is the caller's mistake (ValueError).
    """
    if not trigger.fields <= context.fields:
        missing = ", ".join(sorted(trigger.fields - context.fields))
        raise ValueError(f"the context was not built for this trigger (it lacks {missing})")
    try:
        result = trigger.program.execute(context.cel_context)
    except Exception as error:  # any failure of a user's expression is a miss, not a crash
        return TriggerResult(False, _failure(trigger, context, error))
    if result is True:
        return _TRUE
    if result is False:
        return _FALSE
    return TriggerResult(False, f"the trigger gave {result!r}, not true or false")


def _failure(trigger: Trigger, context: AccountContext, error: Exception) -> str:
    if isinstance(error, TypeError):
        for path in trigger.nullable_paths:
            if (where := _null_at(context.account, path.split("."), "account")) is not None:
                return f"{where} is null"
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    if isinstance(error, KeyError):
        first = f"no such key {first}"
    return f"the trigger could not be evaluated: {first}"


def _null_at(value: Any, steps: list[str], where: str) -> str | None:
    """The first place along a declared path ('measures[].sub_score') that holds null."""
    if value is None:
        return where
    if not steps:
        return None
    step, rest = steps[0], steps[1:]
    if step.endswith("[]"):
        items = value.get(step[:-2]) or []
        for i, item in enumerate(items):
            if (found := _null_at(item, rest, f"{where}.{step[:-2]}[{i}]")) is not None:
                return found
        return None
    return _null_at(value.get(step), rest, f"{where}.{step}")
