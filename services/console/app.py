"""The console's app: server-rendered pages over the four services' APIs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services.console.api import (
    accounts,
    audit,
    finance,
    inbox,
    integrations,
    offers,
    programs,
    results,
    scorecards,
    sign_in,
)
from services.console.domain.throttle import SignInThrottle
from services.console.errors import install_error_pages
from services.console.platform import Platform
from services.console.rendering import STATIC_DIR
from services.console.security import SecurityHeadersMiddleware
from services.console.settings import ConsoleSettings
from services.console.timing import ServerTimingMiddleware
from shared.api import health
from shared.auth import KeyVerifier
from shared.db import create_engine, service_url, session_factory
from shared.logging import configure_logging
from shared.metrics import RequestContextMiddleware, metrics_endpoint
from shared.migrate import head_revision
from shared.pagination import CursorSigner


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the console's database (its people, the key store) and the services' clients."""
    settings: ConsoleSettings = app.state.settings
    configure_logging(settings.service_name, level=settings.log_level, json=settings.log_json)
    engine = create_engine(
        service_url(
            settings.database_url,
            settings.service_name,
            settings.db_role_password.get_secret_value(),
        ),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    factory = session_factory(engine)
    app.state.engine = engine
    app.state.session_factory = factory
    app.state.head_revision = head_revision(settings.service_name)
    app.state.key_verifier = KeyVerifier(factory, settings.api_key_cache_seconds)
    app.state.platform = Platform(settings, settings.api_timeout_seconds)
    try:
        yield
    finally:
        await app.state.platform.aclose()
        await engine.dispose()


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    """Build the console from the environment (or the given settings)."""
    settings = settings or ConsoleSettings()
    app = FastAPI(
        title="Tenure console",
        description="Approvals, programs, results, accounts and the credit trail.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.service_name = settings.service_name
    app.state.cursor_signer = CursorSigner.for_settings(settings)
    app.state.throttle = SignInThrottle(
        settings.sign_in_failures_allowed, settings.sign_in_window_seconds
    )
    install_error_pages(app)
    app.add_middleware(ServerTimingMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware, service=settings.service_name)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(health.router)
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    for router in (
        sign_in.router,
        inbox.router,
        offers.router,
        programs.router,
        results.router,
        accounts.router,
        finance.router,
        scorecards.router,
        integrations.router,
        audit.router,
    ):
        app.include_router(router)
    return app
