"""A page is made of panels, each from one or a few API calls: a service that is down or
refuses makes its own panels say so, and the rest of the page still renders."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from services.console.platform import ApiProblem, ServiceDown

T = TypeVar("T")


@dataclass(frozen=True)
class Panel(Generic[T]):
    """What a panel shows: its data, or why there is none."""

    data: T | None = None
    # "offers is not answering (no connection)"
    down: str | None = None
    # The service's own words when it refused (a missing scope, say), and its status.
    refused: str | None = None
    status: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the panel has its data."""
        return self.down is None and self.refused is None


async def panel(call: Awaitable[T]) -> Panel[T]:
    """The panel for one call: its result, or the service down, or its refusal."""
    try:
        return Panel(data=await call)
    except ServiceDown as exc:
        return Panel(down=str(exc))
    except ApiProblem as exc:
        return Panel(refused=exc.detail, status=exc.status)


def items(page: Any) -> list[dict[str, Any]]:
    """The items of one of the APIs' pages (``{"items": [...], "next_cursor": ...}``)."""
    if isinstance(page, dict):
        return list(page.get("items") or [])
    return []


@dataclass(frozen=True)
class FormError:
    """A form the person sent back with what is wrong: which form (``target``), the
    service's words, each field's, and the status the page answers with."""

    target: str
    detail: str
    status: int
    fields: dict[str, str]

    @classmethod
    def of(cls, target: str, exc: ApiProblem) -> FormError:
        """The error a service's refusal makes on the form ``target``."""
        return cls(target, exc.detail, exc.status, exc.field_errors())
