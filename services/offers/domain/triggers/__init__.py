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

Where things are: ``tokens`` (the tokenizer), ``syntax`` (the syntax tree and the parser),
``types`` (the type rules), ``checker`` (the checker), ``compiler`` (``Trigger``,
``compile_trigger``, ``infer_type``), ``evaluator`` (``account_context``, ``evaluate``) and
``problems`` (``Problem``, ``TriggerError``). This package exports what its callers use.
"""

from services.offers.domain.triggers.compiler import (
    ALL_FIELDS,
    Trigger,
    compile_trigger,
    infer_type,
)
from services.offers.domain.triggers.evaluator import (
    AccountContext,
    TriggerResult,
    account_context,
    evaluate,
)
from services.offers.domain.triggers.problems import Problem, TriggerError

__all__ = [
    "ALL_FIELDS",
    "AccountContext",
    "Problem",
    "Trigger",
    "TriggerError",
    "TriggerResult",
    "account_context",
    "compile_trigger",
    "evaluate",
    "infer_type",
]
