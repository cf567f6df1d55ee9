"""``tenure up`` heals: a service that dies is restarted; a crash loop stops the platform."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from shared.supervisor import Child, GaveUp, RestartPolicy, Supervisor
from tests.conftest import make_key
from tests.e2e.test_accounts import account, new_id
from tests.e2e.test_outbox_to_scoring import wait_for_score
from tests.support import ROOT

TENURE = str(Path(sys.executable).with_name("tenure"))
# In port order: the console's is the one before ingest's (tenure up's --base-port).
APPS = ("console", "ingest", "scoring", "offers", "ledger")


def free_port_run(count: int) -> int:
    """The first of ``count`` consecutive ports nothing listens on right now."""
    for _ in range(200):
        base = random.randrange(20_000, 60_000)
        socks = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no run of free ports")


async def ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(f"{url}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


async def wait_until_ready(url: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not await ready(url):
        assert time.monotonic() < deadline, f"{url} not ready"
        await asyncio.sleep(0.1)


def service_pid(up: subprocess.Popen[bytes], service: str) -> int | None:
    """The pid of the running process of ``service`` that ``tenure up`` started."""
    for child in psutil.Process(up.pid).children():
        try:
            command = child.cmdline()
            if f"services.{service}.app:create_app" in command and (
                child.status() != psutil.STATUS_ZOMBIE
            ):
                return int(child.pid)
        except psutil.NoSuchProcess:
            continue
    return None


def start_up(base_port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """``tenure up`` on five consecutive ports from ``base_port`` (the console's), its output
    in ``log_path``."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [TENURE, "up", "--base-port", str(base_port + 1)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def test_tenure_up_restarts_a_killed_service_and_ctrl_c_stops_everything(
    fresh_database: str, tmp_path: Path
) -> None:
    base = free_port_run(len(APPS))
    urls = {s: f"http://127.0.0.1:{base + n}" for n, s in enumerate(APPS)}
    env = {
        **os.environ,
        "TENURE_DATABASE_URL": fresh_database,
        "TENURE_LOG_LEVEL": "WARNING",
        "TENURE_API_KEY_CACHE_SECONDS": "0",
        "TENURE_OUTBOX_POLL_SECONDS": "0.1",
        "TENURE_OUTBOX_MAX_BACKOFF_SECONDS": "0.5",
    }
    env.pop("DATABASE_URL", None)
    log_path = tmp_path / "up.log"
    up = await asyncio.to_thread(start_up, base, env, log_path)
    try:
        for url in urls.values():
            await wait_until_ready(url)
        admin = await make_key(fresh_database, "admin")
        headers = {"Authorization": f"Bearer {admin}"}
        before = new_id()
        async with httpx.AsyncClient(base_url=urls["ingest"], headers=headers) as ingest:
            assert (await ingest.put(f"/v1/accounts/{before}", json=account())).status_code == 201

        # A second platform on the same database is refused: it would revoke this one's keys.
        second_log = tmp_path / "second.log"
        second = await asyncio.to_thread(start_up, free_port_run(len(APPS)), env, second_log)
        assert await asyncio.to_thread(second.wait, 60) == 1
        assert "already running" in second_log.read_text()

        killed = service_pid(up, "ingest")
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while service_pid(up, "ingest") in (None, killed) or not await ready(urls["ingest"]):
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")
            await asyncio.sleep(0.1)

        after = new_id()
        async with httpx.AsyncClient(base_url=urls["ingest"], headers=headers) as ingest:
            assert (await ingest.get(f"/v1/accounts/{before}")).status_code == 200
            assert (await ingest.put(f"/v1/accounts/{after}", json=account())).status_code == 201
        async with httpx.AsyncClient(base_url=urls["scoring"], headers=headers) as scoring:
            for account_id in (before, after):
                await wait_for_score(scoring, account_id, within=60)
        assert "ingest was killed by signal 9; restarting in" in log_path.read_text()
        assert up.poll() is None
    finally:
        children = psutil.Process(up.pid).children() if up.poll() is None else []
        up.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(up.wait, 60)
    assert code == 0, log_path.read_text(errors="replace")
    assert len(children) == len(APPS)
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
    for url in urls.values():
        assert not await ready(url)


def test_a_crash_loop_stops_every_process_with_a_message_that_names_it() -> None:
    env = dict(os.environ)
    crasher = Child(
        "crasher",
        [sys.executable, "-c", "raise SystemExit(3)"],
        env,
        RestartPolicy(max_crashes=3, window_seconds=60, base_delay=0.01, max_delay=0.05),
    )
    steady = Child("steady", [sys.executable, "-c", "import time; time.sleep(600)"], env)
    logs: list[str] = []
    supervisor = Supervisor([crasher, steady], log=logs.append, poll_seconds=0.02)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            supervisor.run()
        except GaveUp as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    if thread.is_alive():  # a supervisor that never gives up fails here, not forever
        supervisor.stop()
        thread.join()
        pytest.fail(f"the supervisor did not give up: {logs}")
    assert [str(e) for e in outcome] == [
        "crasher exited with code 3: 3 crashes within 60 s, giving up; stopping every service"
    ]
    assert [line.split(";")[0] for line in logs] == [
        "crasher exited with code 3",
        "restarting crasher",
        "crasher exited with code 3",
        "restarting crasher",
    ]
    assert steady.process is not None
    assert steady.process.poll() is not None  # stopped with the platform
