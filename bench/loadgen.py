"""A minimal keep-alive HTTP/1.1 client for load generation.

The benchmarks run the load generator on the same two cores as the service and PostgreSQL,
so every microsecond it spends is taken from what is measured. httpx spends about 1.5 ms of
CPU per request; this spends a small fraction of that. It speaks only what the benchmarks
need: POST and GET with a JSON body, responses with Content-Length, one connection per client.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import orjson


class Connection:
    """One persistent connection; one request at a time."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._fixed += f"Host: {self._host}:{self._port}\r\nContent-Type: application/json\r\n"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Connection:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._writer is not None:
            self._writer.close()

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """Send one request (``body``: JSON-ready data, or bytes sent as they are); return the
        status and the body."""
        assert self._reader is not None
        assert self._writer is not None
        payload = body if isinstance(body, bytes) else b"" if body is None else orjson.dumps(body)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = f"{method} {path} HTTP/1.1\r\n{self._fixed}{extra}"
        head += f"Content-Length: {len(payload)}\r\n\r\n"
        self._writer.write(head.encode() + payload)
        status_line = await self._reader.readline()
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        while True:
            line = await self._reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, await self._reader.readexactly(length)
