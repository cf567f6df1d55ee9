"""Keeps the platform's processes running: a process that dies is restarted, with backoff.

``tenure up`` runs each service as a child process. One that exits (a crash, a ``kill -9``)
is started again after a short, growing delay; one that keeps crashing (``max_crashes``
within ``window_seconds``) is given up on, and then everything is stopped with a message
that says which process and why, rather than a platform left running without it.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class RestartPolicy:
    """When a crashed process is started again, and when to give up on it (pure: no clock)."""

    max_crashes: int = 5
    window_seconds: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 10.0
    _crashes: deque[float] = field(default_factory=deque, init=False, repr=False)

    def crashed(self, now: float) -> float | None:
        """Record a crash at ``now`` (seconds, monotonic); the delay before restarting, or
        None when this is the ``max_crashes``-th crash within the window: give up."""
        self._crashes.append(now)
        while now - self._crashes[0] > self.window_seconds:
            self._crashes.popleft()
        recent = len(self._crashes)
        if recent >= self.max_crashes:
            return None
        return float(min(self.max_delay, self.base_delay * 2 ** (recent - 1)))

    @property
    def recent_crashes(self) -> int:
        """Crashes counted in the current window."""
        return len(self._crashes)


@dataclass
class Child:
    """One supervised process: how to start it and its restart policy."""

    name: str
    command: Sequence[str]
    env: dict[str, str]
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    process: subprocess.Popen[bytes] | None = None
    restart_at: float | None = None


class GaveUp(Exception):
    """A process crashed too often in too short a time; everything has been stopped."""


class Supervisor:
    """Starts children, restarts the ones that die, and stops them all on the way out."""

    def __init__(
        self,
        children: Sequence[Child],
        *,
        log: Callable[[str], None],
        poll_seconds: float = 0.2,
        stop_timeout: float = 15.0,
    ) -> None:
        self.children = list(children)
        self.log = log
        self.poll_seconds = poll_seconds
        self.stop_timeout = stop_timeout
        self._stop = threading.Event()

    def run(self) -> None:
        """Start every child and keep them running until :meth:`stop` or Ctrl-C.

        Raises :class:`GaveUp` when a child crashed too often; every child is stopped before
        this returns or raises.
        """
        try:
            for child in self.children:
                self._start(child)
            while not self._stop.wait(self.poll_seconds):
                for child in self.children:
                    self._tend(child, time.monotonic())
        except KeyboardInterrupt:
            self.log("stopping...")
        finally:
            self.stop_all()

    def stop(self) -> None:
        """Ask :meth:`run` to stop every child and return (from any thread)."""
        self._stop.set()

    def _start(self, child: Child) -> None:
        child.process = subprocess.Popen(list(child.command), env=child.env)  # noqa: S603
        child.restart_at = None

    def _tend(self, child: Child, now: float) -> None:
        if child.restart_at is not None:
            if now >= child.restart_at:
                self.log(f"restarting {child.name}")
                self._start(child)
            return
        assert child.process is not None
        code = child.process.poll()
        if code is None:
            return
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        delay = child.policy.crashed(now)
        if delay is None:
            window = child.policy.window_seconds
            message = (
                f"{child.name} {how}: {child.policy.recent_crashes} crashes within {window:g} s,"
                " giving up; stopping every service"
            )
            raise GaveUp(message)
        self.log(
            f"{child.name} {how}; restarting in {delay:g} s"
            f" (crash {child.policy.recent_crashes} of {child.policy.max_crashes}"
            f" allowed within {child.policy.window_seconds:g} s)"
        )
        child.restart_at = now + delay

    def stop_all(self) -> None:
        """Terminate every running child, waiting for each (then killing the stubborn)."""
        running = [c.process for c in self.children if c.process is not None]
        for process in running:
            if process.poll() is None:
                process.terminate()
        for process in running:
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
