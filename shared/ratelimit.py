"""Per-caller token buckets, so one client cannot starve the others.

Each API key has a bucket per scope it uses (each Segment source one of its own): ``burst``
requests at once, refilled at ``rate`` a second. Buckets live in the process: with several
processes of a service, a caller gets that allowance from each.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shared.errors import TooManyRequests
from shared.settings import SERVICE_NAMES, ServiceSettings, service_principal

# The services' own keys carry the platform's traffic (outbox deliveries): never limited.
EXEMPT_PRINCIPALS = frozenset(service_principal(name) for name in SERVICE_NAMES)


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass(frozen=True)
class Allowance:
    """Sustained requests a second, and how many may come at once."""

    rate: float
    burst: int


class RateLimiter:
    """Token buckets by caller and scope, with an allowance per scope."""

    def __init__(
        self,
        default: Allowance,
        per_scope: Mapping[str, Allowance],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._default = default
        self._per_scope = dict(per_scope)
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    @classmethod
    def for_settings(cls, settings: ServiceSettings) -> RateLimiter:
        """The limiter a service's settings describe."""
        return cls(
            Allowance(settings.rate_limit_per_second, settings.rate_limit_burst),
            {
                scope: Allowance(rate, burst)
                for scope, (rate, burst) in settings.rate_limits.items()
            },
        )

    def take(self, caller: str, scope: str) -> None:
        """Spend one request of ``caller``'s allowance for ``scope``, or a 429 saying when to
        come back (``Retry-After``, whole seconds)."""
        allowance = self._per_scope.get(scope, self._default)
        now = self._clock()
        bucket = self._buckets.get((caller, scope))
        if bucket is None:
            bucket = self._buckets[(caller, scope)] = _Bucket(float(allowance.burst), now)
        bucket.tokens = min(
            float(allowance.burst), bucket.tokens + (now - bucket.stamp) * allowance.rate
        )
        bucket.stamp = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return
        retry_after = max(1, math.ceil((1 - bucket.tokens) / allowance.rate))
        raise TooManyRequests(
            f"Too many requests for '{scope}'; retry in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )
