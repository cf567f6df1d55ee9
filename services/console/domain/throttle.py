"""Sign-in throttling: failed attempts counted per name and per client address (pure)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class SignInThrottle:
    """At most ``allowed`` failures per key (a name, an address) within ``window`` seconds;
    ``now`` is passed in (seconds, monotonic), so the rule is tested without a clock."""

    allowed: int
    window: float
    _failures: dict[str, deque[float]] = field(default_factory=dict, init=False, repr=False)

    def wait_for(self, keys: tuple[str, ...], now: float) -> float:
        """Seconds until any of ``keys`` may try again (0: it may now)."""
        wait = 0.0
        for key in keys:
            failures = self._recent(key, now)
            if len(failures) >= self.allowed:
                wait = max(wait, failures[0] + self.window - now)
        return wait

    def failed(self, keys: tuple[str, ...], now: float) -> None:
        """Count a failed attempt against each of ``keys``."""
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, name_key: str) -> None:
        """Forget a name's failures once its owner signs in (the address's stay counted)."""
        self._failures.pop(name_key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]  # keep the table small: only keys failing lately
        return failures
