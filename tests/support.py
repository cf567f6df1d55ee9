"""Test harness: a scratch database per run and real service processes on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from shared.cli import uvicorn_command

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_database(url: str, database: str) -> str:
    """The same server, another database."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def scratch_database_name() -> str:
    """A database name no other run uses."""
    return f"tenure_test_{uuid.uuid4().hex[:10]}"


@dataclass
class ServiceProcess:
    """One service running as its own uvicorn process."""

    service: str
    database_url: str
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> None:
        """Start the process and (by default) wait until it is ready."""
        env = {
            **os.environ,
            "TENURE_DATABASE_URL": self.database_url,
            "TENURE_PORT": str(self.port),
            "TENURE_LOG_LEVEL": "WARNING",
            "TENURE_API_KEY_CACHE_SECONDS": "0",
            "TENURE_OUTBOX_POLL_SECONDS": "0.1",
            "TENURE_OUTBOX_MAX_BACKOFF_SECONDS": "0.5",
            "TENURE_WORKER_POLL_SECONDS": "0.1",
            # No daily full recompute in the middle of a test run; tests queue their own.
            "TENURE_DAILY_RECOMPUTE_AT": "",
            # A test's few keys drive concurrent load; tests of the limits set their own.
            "TENURE_RATE_LIMIT_PER_SECOND": "100000",
            "TENURE_RATE_LIMIT_BURST": "100000",
            **self.env,
        }
        env.pop("DATABASE_URL", None)
        logs = ROOT / ".tenure" / "test-logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.log_path = logs / f"{self.service}-{self.port}.log"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                uvicorn_command(self.service, "127.0.0.1", self.port),
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Block until ``/readyz`` answers 200 (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.service} exited: {self.tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.service} not ready in {timeout}s: {self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """Graceful stop."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-3000:]


def python() -> str:
    return sys.executable
