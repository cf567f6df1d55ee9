"""A bug's 500: a problem with the request id, answered in the request's context, and the
connection kept (the framework's last resort answered outside it, without the id)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from shared.error_handlers import install_error_handlers
from shared.errors import problem_type
from shared.metrics import RequestContextMiddleware


def buggy_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, service="test")

    @app.get("/bug")
    async def bug() -> None:
        raise RuntimeError("a bug")

    @app.get("/fine")
    async def fine() -> dict[str, bool]:
        return {"ok": True}

    return app


async def test_a_bug_is_a_500_problem_naming_its_request_id_and_the_next_request_works() -> None:
    transport = httpx.ASGITransport(app=buggy_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get("/bug", headers={"X-Request-ID": "trace-bug-1"})
        assert answer.status_code == 500
        body = answer.json()
        assert body["type"] == problem_type("internal")
        assert body["request_id"] == answer.headers["x-request-id"] == "trace-bug-1"
        assert "a bug" not in answer.text
        assert (await client.get("/fine")).json() == {"ok": True}
