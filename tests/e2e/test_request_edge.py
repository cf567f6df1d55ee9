"""The request edge of every service: callers are admitted and bodies bounded before reading.

Raw sockets, so the test can see the server answer while the client is still sending.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson
import pytest

from tests.conftest import Platform, make_key

# One body-taking route of each service (the pydantic-bodied kind FastAPI reads whole).
BODY_ROUTES = {
    "ingest": ("PUT", "/v1/accounts/edge-test"),
    "scoring": ("POST", "/v1/notifications"),
    "offers": ("POST", "/v1/api-keys"),
    "ledger": ("POST", "/v1/grants"),
}
LIMIT = 1024 * 1024  # max_body_bytes' default
CHUNK = b"x" * 65536


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def problem(self) -> dict[str, object]:
        value: dict[str, object] = orjson.loads(self.body)
        return value


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


async def exchange(
    url: str,
    method: str,
    path: str,
    headers: dict[str, str],
    chunks: Iterable[bytes],
    *,
    chunked: bool = False,
    finish: bool = False,
) -> Answer:
    """Send (some of) a request body, stopping early if the server answers; then its answer."""
    where = urlsplit(url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {where.netloc}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    answer = asyncio.create_task(_read_answer(reader))
    try:
        for chunk in chunks:
            if answer.done():
                break
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            await writer.drain()
            await asyncio.sleep(0)
        else:
            if chunked and finish and not answer.done():
                writer.write(b"0\r\n\r\n")
                await writer.drain()
    except ConnectionError:
        pass  # the server answered and closed while we were sending: what we test for
    status, got, body = await asyncio.wait_for(answer, timeout=20)
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return Answer(status, got, body)


def pieces(total: int) -> list[bytes]:
    """``total`` bytes of body in pieces. The client sends them and then waits for the answer
    without sending the rest its headers may claim: a server that waits for the rest of the
    body before answering never answers, and the test fails."""
    return [CHUNK] * (total // len(CHUNK))


@pytest.mark.parametrize("service", BODY_ROUTES)
async def test_no_key_is_a_401_before_the_body_is_read(platform: Platform, service: str) -> None:
    method, path = BODY_ROUTES[service]
    answer = await exchange(
        getattr(platform, service).url,
        method,
        path,
        {"Content-Type": "application/json", "Content-Length": str(2 * 1024**3)},
        pieces(len(CHUNK)),
    )
    assert answer.status == 401
    assert answer.headers["content-type"] == "application/problem+json"


async def test_a_key_without_the_scope_is_a_403_before_the_body_is_read(
    platform: Platform,
) -> None:
    reader = await make_key(platform.database_url, "ledger:read")
    answer = await exchange(
        platform.ledger.url,
        "POST",
        "/v1/grants",
        {"Authorization": f"Bearer {reader}", "Content-Type": "application/json"},
        pieces(len(CHUNK)),
        chunked=True,
    )
    assert answer.status == 403


@pytest.mark.parametrize("service", BODY_ROUTES)
async def test_a_declared_length_over_the_limit_is_a_413_at_once(
    platform: Platform, service: str
) -> None:
    method, path = BODY_ROUTES[service]
    answer = await exchange(
        getattr(platform, service).url,
        method,
        path,
        {
            "Authorization": f"Bearer {platform.admin_key}",
            "Content-Type": "application/json",
            "Content-Length": str(LIMIT + 1),
        },
        pieces(len(CHUNK)),
    )
    assert answer.status == 413
    problem = answer.problem()
    assert str(problem["type"]).endswith("/payload-too-large")


@pytest.mark.parametrize("service", BODY_ROUTES)
async def test_a_chunked_body_is_refused_once_it_passes_the_limit(
    platform: Platform, service: str
) -> None:
    method, path = BODY_ROUTES[service]
    answer = await exchange(
        getattr(platform, service).url,
        method,
        path,
        {"Authorization": f"Bearer {platform.admin_key}", "Content-Type": "application/json"},
        pieces(LIMIT + 2 * len(CHUNK)),
        chunked=True,
    )
    assert answer.status == 413
    assert str(answer.problem()["type"]).endswith("/payload-too-large")


async def test_a_body_within_the_limit_still_lands(platform: Platform) -> None:
    body = orjson.dumps({"principal": "edge", "scopes": ["ingest:read"]})
    answer = await exchange(
        platform.offers.url,
        "POST",
        "/v1/api-keys",
        {"Authorization": f"Bearer {platform.admin_key}", "Content-Type": "application/json"},
        [body[:10], body[10:]],
        chunked=True,
        finish=True,
    )
    assert answer.status == 201
    assert orjson.loads(answer.body)["principal"] == "edge"


async def test_segment_routes_keep_their_own_limits(platform: Platform) -> None:
    message = orjson.dumps({"userId": "u", "event": "e", "properties": {"pad": "x" * 40_000}})
    answer = await exchange(
        platform.ingest.url,
        "POST",
        "/v1/track",
        {"Content-Type": "application/json", "Content-Length": str(len(message))},
        [message],
    )
    assert answer.status == 413  # a message is at most 32 KB, key or not


async def test_a_client_that_hangs_up_mid_body_is_no_server_error(
    platform: Platform, database_url: str
) -> None:
    key = await make_key(database_url, "ingest:write")
    where = urlsplit(platform.ingest.url)
    _reader, writer = await asyncio.open_connection(where.hostname, where.port)
    head = (
        f"POST /v1/events HTTP/1.1\r\nHost: {where.netloc}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n"
    )
    writer.write(head.encode() + b'{"events": [')
    await writer.drain()
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    log = platform.ingest.log_path
    assert log is not None
    deadline = asyncio.get_running_loop().time() + 30
    while "client_disconnected" not in log.read_text(errors="replace"):
        assert asyncio.get_running_loop().time() < deadline, "the hang-up was never noticed"
        await asyncio.sleep(0.1)
    assert "ClientDisconnect" not in log.read_text(errors="replace")  # no traceback logged


async def test_an_unknown_segment_write_key_is_a_401_before_the_body_is_read(
    platform: Platform,
) -> None:
    basic = base64.b64encode(b"wk_unknown:").decode()
    answer = await exchange(
        platform.ingest.url,
        "POST",
        "/v1/batch",
        {
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/json",
            "Content-Length": "400000",
        },
        pieces(len(CHUNK)),
    )
    assert answer.status == 401
