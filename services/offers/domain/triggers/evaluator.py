"""Evaluating a trigger: ``account_context`` makes one account's snapshot what CEL reads, and
``evaluate`` runs a ``Trigger`` on it to a ``TriggerResult``, naming the null field on a miss."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cel

from services.offers.domain.fields import ACCOUNT, DOUBLE, CelType, ListOf, MapOf, Message, Nullable
from services.offers.domain.triggers.compiler import ALL_FIELDS, Trigger


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
