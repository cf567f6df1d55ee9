"""A trigger's syntax tree (``Node`` and its kinds, each with its source span) and ``Parser``,
the recursive-descent parser of CEL's grammar that builds it from the tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.offers.domain.triggers.problems import ParseError
from services.offers.domain.triggers.tokens import Token, tokenize


@dataclass(frozen=True)
class Node:
    """A node of the syntax tree: its kind is its class, ``start``:``end`` its source span."""

    start: int
    end: int


@dataclass(frozen=True)
class Lit(Node):
    kind: str
    value: Any


@dataclass(frozen=True)
class Ident(Node):
    name: str


@dataclass(frozen=True)
class Select(Node):
    operand: Node
    name: str
    name_at: int


@dataclass(frozen=True)
class Index(Node):
    operand: Node
    index: Node


@dataclass(frozen=True)
class Call(Node):
    target: Node | None
    name: str
    name_at: int
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str
    op_at: int
    left: Node
    right: Node


@dataclass(frozen=True)
class Ternary(Node):
    cond: Node
    then: Node
    other: Node


@dataclass(frozen=True)
class List(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Map(Node):
    entries: tuple[tuple[Node, Node], ...]


_LEVELS: tuple[tuple[str, ...], ...] = (
    ("||",),
    ("&&",),
    ("==", "!=", "<", "<=", ">", ">=", "in"),
    ("+", "-"),
    ("*", "/", "%"),
)


class Parser:
    """CEL's grammar, by precedence: ternary, ||, &&, relations, + -, * / %, unary, member."""

    def __init__(self, source: str) -> None:
        self.tokens = tokenize(source)
        self.i = 0

    def parse(self) -> Node:
        node = self.expr()
        if self.peek.kind != "end":
            raise ParseError(self.peek.start, f"unexpected {self.peek.text!r}")
        return node

    @property
    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def at(self, op: str) -> bool:
        return self.peek.kind == "op" and self.peek.text == op

    def expect(self, op: str) -> Token:
        if not self.at(op):
            raise ParseError(self.peek.start, f"expected {op!r}")
        return self.take()

    def expr(self) -> Node:
        cond = self.binary(0)
        if not self.at("?"):
            return cond
        self.take()
        then = self.binary(0)
        self.expect(":")
        other = self.expr()
        return Ternary(cond.start, other.end, cond, then, other)

    def binary(self, level: int) -> Node:
        if level == len(_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek.kind == "op" and self.peek.text in _LEVELS[level]:
            op = self.take()
            right = self.binary(level + 1)
            left = Binary(left.start, right.end, op.text, op.start, left, right)
        return left

    def unary(self) -> Node:
        # A loop, not recursion: a run of hundreds of ! is read, and refused by its depth.
        ops = []
        while self.at("!") or self.at("-"):
            ops.append(self.take())
        node = self.member()
        for op in reversed(ops):
            node = Unary(op.start, node.end, op.text, node)
        return node

    def member(self) -> Node:
        node = self.primary()
        while True:
            if self.at("."):
                self.take()
                name = self.take()
                if name.kind != "ident":
                    raise ParseError(name.start, "expected a field or function name after '.'")
                if self.at("("):
                    args, end = self.arguments(")")
                    node = Call(node.start, end, node, name.text, name.start, args)
                else:
                    node = Select(node.start, name.end, node, name.text, name.start)
            elif self.at("["):
                self.take()
                index = self.expr()
                end = self.expect("]").end
                node = Index(node.start, end, node, index)
            elif self.at("{"):
                raise ParseError(self.peek.start, "messages are not supported in a trigger")
            else:
                return node

    def arguments(self, close: str) -> tuple[tuple[Node, ...], int]:
        self.take()
        items: list[Node] = []
        while not self.at(close):
            items.append(self.expr())
            if not self.at(close):
                self.expect(",")
        return tuple(items), self.take().end

    def primary(self) -> Node:
        token = self.peek
        if token.kind in ("int", "uint", "double", "string", "bool", "null"):
            self.take()
            return Lit(token.start, token.end, token.kind, token.value)
        if token.kind == "bytes":
            raise ParseError(token.start, "bytes are not supported in a trigger")
        if token.kind == "ident":
            self.take()
            if self.at("("):
                args, end = self.arguments(")")
                return Call(token.start, end, None, token.text, token.start, args)
            return Ident(token.start, token.end, token.text)
        if self.at("("):
            self.take()
            inner = self.expr()
            self.expect(")")
            return inner
        if self.at("["):
            items, end = self.arguments("]")
            return List(token.start, end, items)
        if self.at("{"):
            self.take()
            entries: list[tuple[Node, Node]] = []
            while not self.at("}"):
                key = self.expr()
                self.expect(":")
                entries.append((key, self.expr()))
                if not self.at("}"):
                    self.expect(",")
            return Map(token.start, self.take().end, tuple(entries))
        if token.kind == "end":
            raise ParseError(token.start, "the expression is incomplete")
        if self.at("."):
            raise ParseError(token.start, "a leading '.' is not supported in a trigger")
        raise ParseError(token.start, f"unexpected {token.text!r}")


# Deeper than this, a trigger is not one a person wrote (cel itself stops nesting at 96).
MAX_DEPTH = 64


def too_deep(tree: Node) -> Node | None:
    """The first node nested deeper than ``MAX_DEPTH`` (a chain of hundreds of ``&&``, say),
    found without recursion, so the checker's recursion never meets it; None if none is."""
    stack: list[tuple[Node, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return node
        for value in vars(node).values():
            children = value if isinstance(value, tuple) else (value,)
            for child in children:
                if isinstance(child, Node):
                    stack.append((child, depth + 1))
                elif isinstance(child, tuple):
                    stack.extend((c, depth + 1) for c in child if isinstance(c, Node))
    return None
