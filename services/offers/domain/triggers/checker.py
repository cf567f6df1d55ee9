"""The checker: ``Checker`` walks a trigger's syntax tree, infers each node's type over the
declared fields and records every problem with its position, and what fields the trigger reads.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from services.offers.domain.fields import (
    ACCOUNT,
    BOOL,
    DATE,
    DOUBLE,
    DYN,
    EXCLUDED,
    INT,
    NULL,
    CelType,
    ListOf,
    MapOf,
    Message,
    Nullable,
    type_name,
)
from services.offers.domain.triggers.problems import Problem, problem_at
from services.offers.domain.triggers.syntax import (
    Binary,
    Call,
    Ident,
    Index,
    List,
    Lit,
    Map,
    Node,
    Select,
    Ternary,
    Unary,
)
from services.offers.domain.triggers.types import (
    LITERAL_TYPES,
    NUMERIC,
    Typed,
    allowed_values,
    arithmetic,
    bare,
    disjoint,
    equatable,
    is_date,
    kind_of,
    orderable,
    plain,
    unify,
)

_GLOBALS = ("size", "has", "int", "double")
_METHODS = ("size", "contains", "startsWith", "endsWith")
_MACROS = ("exists", "all", "exists_one", "map", "filter")
MAX_MACRO_NESTING = 2


class Checker:
    """The checker of one trigger's source: ``check`` gives a node's type and records the
    problems found on the way (``problems``), the nullable paths and the fields it reads."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.nullable_paths: set[str] = set()
        # The top-level snapshot fields read, so a context need hold only those.
        self.fields: set[str] = set()
        self.whole_account = False

    def fail(self, position: int, message: str) -> Typed:
        """Record a problem; the sub-expression then fits anywhere, so it is reported once."""
        self.problems.append(problem_at(self.source, position, message))
        return Typed(DYN)

    def text(self, node: Node) -> str:
        return self.source[node.start : node.end]

    def described(self, node: Node, typed: Typed) -> str:
        return f"{self.text(node)} ({type_name(typed.type)})"

    def check(self, node: Node, env: Mapping[str, Typed]) -> Typed:
        if isinstance(node, Lit):
            return Typed(LITERAL_TYPES[node.kind])
        if isinstance(node, Ident):
            if node.name == "account":
                self.whole_account = True
                return Typed(ACCOUNT, "")
            if node.name in env:
                return env[node.name]
            return self.fail(node.start, f"unknown name {node.name!r}: a trigger reads account")
        if isinstance(node, Select):
            return self.select(node, self.operand(node.operand, env))
        if isinstance(node, Index):
            return self.index(node, env)
        if isinstance(node, Call):
            return self.call(node, env)
        if isinstance(node, Unary):
            return self.unary(node, env)
        if isinstance(node, Binary):
            return self.binary(node, env)
        if isinstance(node, Ternary):
            return self.ternary(node, env)
        if isinstance(node, List):
            return self.list_literal(node, env)
        assert isinstance(node, Map)
        return self.map_literal(node, env)

    def operand(self, node: Node, env: Mapping[str, Typed]) -> Typed:
        """The operand of ``.`` or ``[]``: reading a field of account does not read all of it."""
        if isinstance(node, Ident) and node.name == "account":
            return Typed(ACCOUNT, "")
        return self.check(node, env)

    def require_bool(self, node: Node, env: Mapping[str, Typed], what: str) -> None:
        typed = self.check(node, env)
        if kind_of(typed.type) not in ("bool", "dyn"):
            self.fail(
                node.start, f"{what} must be true or false, not {self.described(node, typed)}"
            )

    def member(self, owner: Typed, node: Node, name: str, at: int) -> Typed:
        """The field ``name`` of a message or the value at key ``name`` of a map."""
        t = bare(owner.type)
        path = None if owner.path is None else f"{owner.path}.{name}".lstrip(".")
        if t == DYN:
            return Typed(DYN)
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
            return Typed(found.type, path)
        if isinstance(t, MapOf) and kind_of(t.key) in ("string", "dyn"):
            if not self.allowed(t.key, name, at, self.text(node), "key"):
                return Typed(DYN)
            return Typed(t.value)
        return self.fail(at, f"{self.described(node, owner)} has no fields")

    def allowed(self, t: CelType, value: object, at: int, of: str, noun: str = "value") -> bool:
        """Whether a literal is one of a Literal-typed value's allowed ones (else a problem)."""
        values = allowed_values(t)
        if values is None or value in values:
            return True
        listed = ", ".join(repr(v) for v in values)
        self.fail(at, f"{value!r} is not a possible {noun} of {of} (one of {listed})")
        return False

    def select(self, node: Select, owner: Typed) -> Typed:
        return self.member(owner, node.operand, node.name, node.name_at)

    def index(self, node: Index, env: Mapping[str, Typed]) -> Typed:
        owner = self.operand(node.operand, env)
        key = self.check(node.index, env)
        t = bare(owner.type)
        if t == DYN or key.type == DYN:
            return Typed(DYN)
        if isinstance(t, ListOf):
            if kind_of(key.type) not in ("int", "uint"):
                return self.fail(node.index.start, "a list index must be an int")
            return Typed(t.item, None if owner.path is None else f"{owner.path}[]")
        literal = node.index.value if isinstance(node.index, Lit) else None
        if isinstance(t, Message) and isinstance(literal, str):
            return self.member(owner, node.operand, literal, node.index.start)
        if isinstance(t, MapOf):
            if not equatable(t.key, key.type):
                return self.fail(
                    node.index.start,
                    f"{self.text(node.operand)} keys are "
                    f"{type_name(t.key)}, not {type_name(key.type)}",
                )
            if literal is not None:
                self.allowed(t.key, literal, node.index.start, self.text(node.operand), "key")
            return Typed(t.value)
        return self.fail(
            node.index.start, f"{self.described(node.operand, owner)} cannot be indexed"
        )

    def unary(self, node: Unary, env: Mapping[str, Typed]) -> Typed:
        typed = self.check(node.operand, env)
        kind = kind_of(typed.type)
        if kind == "dyn":
            return typed
        if node.op == "!" and kind == "bool":
            return Typed(BOOL)
        if node.op == "-" and kind in ("int", "double"):
            return Typed(plain(typed.type))
        need = "true or false" if node.op == "!" else "an int or a double"
        return self.fail(
            node.start, f"{node.op} needs {need}, not {self.described(node.operand, typed)}"
        )

    def binary(self, node: Binary, env: Mapping[str, Typed]) -> Typed:
        if node.op in ("&&", "||"):
            self.require_bool(node.left, env, f"each side of {node.op}")
            self.require_bool(node.right, env, f"each side of {node.op}")
            return Typed(BOOL)
        left, right = self.check(node.left, env), self.check(node.right, env)
        if node.op == "in":
            return self.membership(node, left, right)
        if node.op in ("==", "!=", "<", "<=", ">", ">="):
            return self.comparison(node, left, right)
        result = arithmetic(node.op, left.type, right.type)
        if result is None:
            return self.fail(
                node.op_at,
                f"cannot apply {node.op} to "
                f"{self.described(node.left, left)} and "
                f"{self.described(node.right, right)}",
            )
        return Typed(result)

    def comparison(self, node: Binary, left: Typed, right: Typed) -> Typed:
        for this, this_node, other in ((left, node.left, right), (right, node.right, left)):
            never = not isinstance(this.type, Nullable) and this.type not in (NULL, DYN)
            if node.op in ("==", "!=") and other.type == NULL and never:
                return self.fail(node.op_at, f"{self.text(this_node)} is never null")
        ok = equatable if node.op in ("==", "!=") else orderable
        if not ok(left.type, right.type) and not self.dated(node, left, right):
            why = "compare" if node.op in ("==", "!=") else "order"
            return self.fail(
                node.op_at,
                f"cannot {why} {self.described(node.left, left)} "
                f"with {self.described(node.right, right)}",
            )
        if disjoint(left.type, right.type):
            return self.fail(
                node.op_at,
                f"{self.text(node.left)} and {self.text(node.right)} never have the same value",
            )
        self.values_fit(left.type, node.right, self.text(node.left))
        self.values_fit(right.type, node.left, self.text(node.right))
        return Typed(BOOL)

    def dated(self, node: Binary, left: Typed, right: Typed) -> bool:
        """A date compared with a string literal: fine when the literal is a 'YYYY-MM-DD'."""
        for this, other in ((left, node.right), (right, node.left)):
            if bare(this.type) == DATE and isinstance(other, Lit) and other.kind == "string":
                if not is_date(other.value):
                    self.fail(other.start, f"{other.value!r} is not a date: write 'YYYY-MM-DD'")
                return True
        return False

    def values_fit(self, t: CelType, node: Node, what: str, noun: str = "value") -> None:
        """Literals (``node``, or the items of a list literal) compared with a Literal-typed
        value (of type ``t``, named by ``what``) must be among its values."""
        if allowed_values(t) is None:
            return
        literals = node.items if isinstance(node, List) else (node,)
        for item in literals:
            if isinstance(item, Lit) and item.kind in ("string", "int"):
                self.allowed(t, item.value, item.start, what, noun)

    def membership(self, node: Binary, left: Typed, right: Typed) -> Typed:
        t = bare(right.type)
        if t == DYN:
            return Typed(BOOL)
        if not isinstance(t, ListOf | MapOf):
            return self.fail(
                node.op_at,
                f"in needs a list or a map on its right, not {self.described(node.right, right)}",
            )
        item = t.item if isinstance(t, ListOf) else t.key
        if not equatable(left.type, item):
            return self.fail(
                node.op_at,
                f"{self.described(node.left, left)} cannot be in "
                f"{self.described(node.right, right)}",
            )
        noun = "item" if isinstance(t, ListOf) else "key"
        if disjoint(left.type, item):
            return self.fail(
                node.op_at,
                f"{self.text(node.left)} is never one of {self.text(node.right)}'s {noun}s",
            )
        self.values_fit(item, node.left, self.text(node.right), noun)
        if isinstance(node.right, List):
            self.values_fit(left.type, node.right, self.text(node.left))
        return Typed(BOOL)

    def ternary(self, node: Ternary, env: Mapping[str, Typed]) -> Typed:
        self.require_bool(node.cond, env, "the condition before ?")
        then, other = self.check(node.then, env), self.check(node.other, env)
        result = unify(then.type, other.type)
        if result is None:
            return self.fail(
                node.then.start,
                f"the two branches of ?: differ: "
                f"{type_name(then.type)} and {type_name(other.type)}",
            )
        return Typed(result)

    def list_literal(self, node: List, env: Mapping[str, Typed]) -> Typed:
        item: CelType = DYN
        for element in node.items:
            typed = self.check(element, env)
            joined = unify(item, typed.type)
            if joined is None:
                return self.fail(element.start, "a list's items must all have one type")
            item = joined
        return Typed(ListOf(item))

    def map_literal(self, node: Map, env: Mapping[str, Typed]) -> Typed:
        key: CelType = DYN
        value: CelType = DYN
        for k, v in node.entries:
            kt, vt = self.check(k, env).type, self.check(v, env).type
            if kind_of(kt) not in ("int", "uint", "string", "bool", "dyn"):
                return self.fail(k.start, "a map key must be an int, a string or a bool")
            new_key, new_value = unify(key, kt), unify(value, vt)
            if new_key is None or new_value is None:
                return self.fail(k.start, "a map's keys, and its values, must each have one type")
            key, value = new_key, new_value
        return Typed(MapOf(key, value))

    def call(self, node: Call, env: Mapping[str, Typed]) -> Typed:
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
        if kind_of(receiver.type) not in ("string", "dyn"):
            return self.fail(
                node.name_at,
                f"{node.name} needs a string, not {self.described(node.target, receiver)}",
            )
        if kind_of(args[0].type) not in ("string", "dyn"):
            return self.fail(node.args[0].start, f"{node.name} needs a string argument")
        return Typed(BOOL)

    def unknown_function(self, node: Call) -> Typed:
        known = ", ".join((*_GLOBALS, *(f".{m}" for m in _METHODS + _MACROS)))
        return self.fail(node.name_at, f"unknown function {node.name!r}: a trigger may use {known}")

    def size(self, node: Call, of: Node, typed: Typed, count: int) -> Typed:
        if count != (0 if node.target is not None else 1):
            return self.fail(node.name_at, "size takes one value")
        t = bare(typed.type)
        if t == DYN or kind_of(t) == "string" or isinstance(t, ListOf | MapOf):
            return Typed(INT)
        return self.fail(
            node.name_at, f"size needs a string, a list or a map, not {self.described(of, typed)}"
        )

    def function(self, node: Call, env: Mapping[str, Typed]) -> Typed:
        if node.name not in _GLOBALS:
            return self.unknown_function(node)
        if len(node.args) != 1:
            return self.fail(node.name_at, f"{node.name} takes one argument")
        arg = node.args[0]
        if node.name == "has":
            if not isinstance(arg, Select):
                return self.fail(arg.start, "has needs a field: has(account.override)")
            owner = self.operand(arg.operand, env)
            found = self.select(arg, owner)
            if isinstance(bare(owner.type), Message) and found.type != DYN:
                # The context holds every declared field, so has() would always be true.
                return self.fail(
                    node.name_at,
                    f"{self.text(arg)} is always present: compare it with null instead",
                )
            return Typed(BOOL)
        typed = self.check(arg, env)
        if node.name == "size":
            return self.size(node, arg, typed, 1)
        if kind_of(typed.type) not in (*NUMERIC, "dyn"):
            return self.fail(
                arg.start, f"{node.name} needs a number, not {self.described(arg, typed)}"
            )
        return Typed(INT if node.name == "int" else DOUBLE)

    def macro(self, node: Call, env: Mapping[str, Typed]) -> Typed:
        assert node.target is not None
        arity = (2, 3) if node.name == "map" else (2,)
        if len(node.args) not in arity:
            return self.fail(
                node.name_at, f"{node.name} takes a name and an expression: {node.name}(m, ...)"
            )
        var = node.args[0]
        if not isinstance(var, Ident):
            return self.fail(var.start, f"{node.name} needs a simple name first")
        if var.name == "account" or var.name in env:
            return self.fail(var.start, f"the name {var.name!r} is already in use")
        if len(env) >= MAX_MACRO_NESTING:
            # Each level runs over every item of its list: three deep over a list of a hundred
            # is a million steps per account, enough to stall evaluation for every account.
            return self.fail(
                node.name_at,
                f"{node.name} inside {MAX_MACRO_NESTING} others: macros nest at"
                f" most {MAX_MACRO_NESTING} deep",
            )
        receiver = self.check(node.target, env)
        t = bare(receiver.type)
        if t == DYN:
            item = Typed(DYN)
        elif isinstance(t, ListOf):
            item = Typed(t.item, None if receiver.path is None else f"{receiver.path}[]")
        elif isinstance(t, MapOf):
            item = Typed(t.key)
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
            return Typed(ListOf(self.check(body[-1], inner).type))
        self.require_bool(body[0], inner, f"the condition of {node.name}")
        return Typed(ListOf(item.type) if node.name == "filter" else BOOL)
