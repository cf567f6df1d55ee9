"""Who may do what in the console: a person's roles, and the API scopes their key carries.

The console never decides an approval itself: it signs a person in with a key holding the
scopes of their roles, and the services' own rules (four eyes, budgets) answer each action.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

Role = Literal["viewer", "approver", "finance", "cs", "product", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)

# Every signed-in person reads every page.
_READ = ("ingest:read", "scores:read", "offers:read", "ledger:read")
ROLE_SCOPES: dict[Role, tuple[str, ...]] = {
    "viewer": _READ,
    # Approves offers and program versions (the approver slot).
    "approver": (*_READ, "offers:approve"),
    # Seconds offers that need finance (the finance slot).
    "finance": (*_READ, "offers:approve_finance"),
    # Overrides an account's colour, edits scorecards.
    "cs": (*_READ, "scores:write"),
    # Writes programs, runs simulations.
    "product": (*_READ, "offers:write"),
    # Everything, keys and people included.
    "admin": ("admin",),
}


class UnknownRole(ValueError):
    """A role the console does not have."""


def check_roles(roles: Iterable[str]) -> list[Role]:
    """The roles, deduplicated in ``ROLES`` order; ``UnknownRole`` names any that is not one."""
    given = set(roles)
    unknown = sorted(given - set(ROLES))
    if unknown:
        raise UnknownRole(f"unknown roles: {', '.join(unknown)} (roles: {', '.join(ROLES)})")
    if not given:
        raise UnknownRole(f"at least one role is needed (roles: {', '.join(ROLES)})")
    return [r for r in ROLES if r in given]


def scopes_for(roles: Iterable[Role]) -> list[str]:
    """The scopes a key for someone with ``roles`` carries, sorted."""
    return sorted({scope for role in roles for scope in ROLE_SCOPES[role]})


def roles_held(scopes: Iterable[str]) -> list[Role]:
    """The roles a key's scopes amount to (for a person who signed in with an API key):
    each role all of whose scopes the key holds; ``admin`` holds them all."""
    held = frozenset(scopes)
    if "admin" in held:
        return list(ROLES)
    return [r for r in ROLES if r != "admin" and set(ROLE_SCOPES[r]) <= held]


def may(scopes: Iterable[str], scope: str) -> bool:
    """Whether a key with ``scopes`` holds ``scope`` (``admin`` holds every one)."""
    held = frozenset(scopes)
    return "admin" in held or scope in held
