"""The four services' APIs, called as the signed-in person (their own key, never the
console's): every approval and edit is the person's, checked by the services' own rules."""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from shared.http import RetryableStatus, ServiceClient
from shared.settings import SERVICE_NAMES, ServiceSettings

# The API calls the current request made, as (start, end) on the monotonic clock: the
# console's Server-Timing header says how much of a page's time was spent waiting on them.
API_CALLS: ContextVar[list[tuple[float, float]] | None] = ContextVar("api_calls", default=None)


def segment(value: object) -> str:
    """``value`` as one segment of a service's path: an id may hold ``%``, ``?`` or ``#``
    (the services take any printable id), which must reach the service as that id, never as
    another path, a query or an escape of another id."""
    return quote(str(value), safe="")


class ServiceDown(Exception):
    """A service did not answer (refused, timed out, or failed with a 5xx): its panels say
    so and the rest of the page renders."""

    def __init__(self, service: str, why: str) -> None:
        super().__init__(f"{service} is not answering ({why})")
        self.service = service
        self.why = why


@dataclass
class ApiProblem(Exception):
    """A service refused a request (a 4xx problem): its words go back on the form."""

    status: int
    problem: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.detail

    @property
    def detail(self) -> str:
        """The problem's own explanation."""
        return str(self.problem.get("detail") or self.problem.get("title") or self.status)

    @property
    def type_slug(self) -> str:
        """The problem type's last part (``approval-forbidden``), for a client to act on."""
        return str(self.problem.get("type", "")).rstrip("/").rsplit("/", 1)[-1]

    def field_errors(self) -> dict[str, str]:
        """The problem's per-field errors by JSON pointer (``/trigger``), as given."""
        errors = self.problem.get("errors") or []
        return {
            str(e.get("pointer", "")): str(e.get("detail", ""))
            for e in errors
            if isinstance(e, dict)
        }


class Platform:
    """One pooled client per service; each call carries the person's key."""

    def __init__(self, settings: ServiceSettings, timeout: float, transport: Any = None) -> None:
        self._clients = {
            s: ServiceClient(
                settings.service_url(s), "", timeout=timeout, attempts=2, transport=transport
            )
            for s in SERVICE_NAMES
        }

    async def aclose(self) -> None:
        """Close every pooled connection."""
        for client in self._clients.values():
            await client.aclose()

    async def call(self, service: str, method: str, path: str, key: str, **kwargs: Any) -> Any:
        """The JSON a service answered; ``ServiceDown`` or ``ApiProblem`` otherwise."""
        headers = {"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}
        started = time.monotonic()
        try:
            response = await self._clients[service].request(method, path, headers=headers, **kwargs)
        except httpx.TimeoutException as exc:
            raise ServiceDown(service, "timed out") from exc
        except httpx.TransportError as exc:
            raise ServiceDown(service, "no connection") from exc
        except RetryableStatus as exc:
            raise ServiceDown(service, f"answered {exc.response.status_code}") from exc
        finally:
            calls = API_CALLS.get()
            if calls is not None:
                calls.append((started, time.monotonic()))
        if response.status_code >= 500:
            raise ServiceDown(service, f"answered {response.status_code}")
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text[:300]}
            raise ApiProblem(response.status_code, problem if isinstance(problem, dict) else {})
        if not response.content:
            return None
        return response.json()

    async def get(self, service: str, path: str, key: str, **params: Any) -> Any:
        """GET ``path`` of ``service`` with query ``params`` (None values left out)."""
        query = {k: v for k, v in params.items() if v is not None}
        return await self.call(service, "GET", path, key, params=query)

    async def post(self, service: str, path: str, key: str, body: dict[str, Any]) -> Any:
        """POST a JSON body to ``path`` of ``service``."""
        return await self.call(service, "POST", path, key, json=body)
