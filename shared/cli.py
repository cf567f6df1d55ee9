"""``tenure``: the operator's entry point (run the platform, migrate, manage API keys)."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import signal
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from services.console.cli import make_demo_people, users_app
from shared import migrate
from shared.auth import (
    SERVICE_SCOPES,
    ApiKey,
    create_key,
    list_keys,
    revoke_key,
    revoke_principal_keys,
)
from shared.db import standalone_unit_of_work
from shared.demo import Options
from shared.demo_client import DemoError, ready
from shared.demo_report import run_and_report
from shared.embedded import DATA_DIR, database_url
from shared.errors import TenureError
from shared.settings import (
    APP_NAMES,
    DEFAULT_PORTS,
    SERVICE_NAMES,
    PlatformSettings,
    service_principal,
)
from shared.supervisor import Child, GaveUp, Supervisor

app = typer.Typer(help="Tenure: run the platform and administer it.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
console = Console(stderr=True)

ADMIN_PRINCIPAL = "admin"


async def create_key_at(url: str, principal: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """Create an API key in the database at ``url``; returns it with its secret."""
    async with standalone_unit_of_work(url) as session:
        return await create_key(session, principal, scopes)


async def ensure_admin_key(url: str) -> str | None:
    """Create an admin key if no live one exists; returns its secret when it was made."""
    async with standalone_unit_of_work(url) as session:
        live = await session.scalar(
            select(ApiKey.id).where(
                ApiKey.principal == ADMIN_PRINCIPAL, ApiKey.revoked_at.is_(None)
            )
        )
        if live is not None:
            return None
        _key, raw = await create_key(session, ADMIN_PRINCIPAL, ["admin"])
        return raw


async def issue_service_keys(url: str) -> dict[str, str]:
    """Fresh keys for each service (earlier ones revoked), for this run of the platform."""
    keys: dict[str, str] = {}
    async with standalone_unit_of_work(url) as session:
        for service in SERVICE_NAMES:
            principal = service_principal(service)
            await revoke_principal_keys(session, principal)
            _key, raw = await create_key(session, principal, list(SERVICE_SCOPES[service]))
            keys[service] = raw
    return keys


def service_ports(base_port: int) -> dict[str, int]:
    """Each app's port: the well-known ones, or ingest's at ``base_port``, the other services'
    on the next three and the console's on the one before."""
    first = DEFAULT_PORTS["ingest"]
    return {s: base_port + DEFAULT_PORTS[s] - first for s in APP_NAMES}


def service_environment(
    url: str,
    keys: dict[str, str],
    host: str,
    ports: dict[str, int],
    passwords: dict[str, str],
) -> dict[str, dict[str, str]]:
    """Each app process's environment: the database and its role's own password, its key
    (the console has none: it acts with each person's own), the services' URLs."""
    urls = {f"TENURE_{s.upper()}_URL": f"http://{host}:{ports[s]}" for s in SERVICE_NAMES}
    return {
        s: {
            "TENURE_DATABASE_URL": url,
            "TENURE_DB_ROLE_PASSWORD": passwords[s],
            "TENURE_SERVICE_API_KEY": keys.get(s, ""),
            "TENURE_PORT": str(ports[s]),
            **urls,
        }
        for s in APP_NAMES
    }


def uvicorn_command(service: str, host: str, port: int) -> list[str]:
    """The command that runs one service process."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        f"services.{service}.app:create_app",
        "--factory",
        "--host",
        host,
        "--port",
        str(port),
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "5",
    ]


@contextmanager
def single_platform(url: str) -> Iterator[None]:
    """Hold, for as long as the platform runs, a lock that a second ``tenure up`` on the same
    database is refused by: it would revoke this one's service keys and fight for its ports."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    path = DATA_DIR.resolve() / f"up-{digest}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            console.print(f"[red]tenure up is already running on this database (pid {holder}).[/]")
            raise typer.Exit(1) from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        yield


@app.command()
def up(
    host: Annotated[str, typer.Option(help="Address the services listen on")] = "127.0.0.1",
    base_port: Annotated[
        int,
        typer.Option(
            help="Port of ingest; scoring, offers and ledger take the next three, the console"
            " the one before"
        ),
    ] = DEFAULT_PORTS["ingest"],
) -> None:
    """Start PostgreSQL (embedded unless DATABASE_URL is set), migrate, start the four services
    and the console (on the port before ingest's: http://127.0.0.1:8000).

    A service that dies is restarted (after 0.5 s, doubling to 10 s); one that crashes 5 times
    within 60 s stops the platform. Ctrl-C stops everything.
    """
    url = database_url()
    with single_platform(url):
        _run_platform(url, host, base_port)


def _run_platform(url: str, host: str, base_port: int) -> None:
    passwords = PlatformSettings().role_passwords()
    asyncio.run(migrate.upgrade(url, role_passwords=passwords))
    admin_key = asyncio.run(ensure_admin_key(url))
    if admin_key:
        console.print(f"[bold green]Admin API key (shown once, keep it):[/] {admin_key}")
    keys = asyncio.run(issue_service_keys(url))
    ports = service_ports(base_port)
    envs = service_environment(url, keys, host, ports, passwords)
    children = [
        Child(s, uvicorn_command(s, host, ports[s]), {**os.environ, **envs[s]}) for s in APP_NAMES
    ]
    supervisor = Supervisor(children, log=console.print)

    def stop(*_: Any) -> None:
        supervisor.stop()

    # Both, explicitly: a shell without job control starts background jobs with SIGINT
    # ignored, and then Ctrl-C would reach the services but not their supervisor.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for service in APP_NAMES:
        console.print(f"{service} on http://{host}:{ports[service]}")
    try:
        supervisor.run()
    except GaveUp as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create the service roles (each with its TENURE_<SERVICE>_DB_PASSWORD) and migrate."""
    asyncio.run(
        migrate.upgrade(
            database_url(),
            role_passwords=PlatformSettings().role_passwords(),
            revision=revision,
        )
    )
    console.print("migrated")


@keys_app.command("create")
def keys_create(
    principal: Annotated[str, typer.Option(help="Who the key is for")],
    scope: Annotated[list[str], typer.Option(help="A scope; repeat for several")],
) -> None:
    """Create an API key and print its secret (shown once)."""
    try:
        key, raw = asyncio.run(create_key_at(database_url(), principal, scope))
    except TenureError as exc:
        console.print(f"[red]{exc.detail}[/]")
        raise typer.Exit(2) from exc
    console.print(f"id {key.id}")
    typer.echo(raw)


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (never their secrets)."""

    async def fetch() -> Sequence[ApiKey]:
        async with standalone_unit_of_work(database_url()) as session:
            return await list_keys(session, after=None, limit=None)

    table = Table("id", "prefix", "principal", "scopes", "created", "revoked", "last used")
    for k in asyncio.run(fetch()):
        table.add_row(
            str(k.id),
            k.display_prefix,
            k.principal,
            " ".join(k.scopes),
            str(k.created_at),
            str(k.revoked_at or ""),
            str(k.last_used_at or ""),
        )
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: uuid.UUID) -> None:
    """Revoke an API key."""

    async def revoke() -> bool:
        async with standalone_unit_of_work(database_url()) as session:
            return await revoke_key(session, key_id) is not None

    if not asyncio.run(revoke()):
        console.print(f"[red]no key {key_id}[/]")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")


def _url_option(service: str) -> Any:
    return typer.Option(
        f"--{service}-url",
        envvar=f"TENURE_{service.upper()}_URL",
        help=f"The {service} service",
    )


@app.command()
def demo(
    accounts: Annotated[int, typer.Option(min=1, max=100_000, help="Accounts in the book")] = 2000,
    days: Annotated[int, typer.Option(min=14, max=399, help="Days of history")] = 180,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic book")] = 7,
    history_every: Annotated[
        int, typer.Option(min=1, help="Days between the as-of recomputes that fill in history")
    ] = 7,
    admin_key: Annotated[
        str, typer.Option(envvar="TENURE_ADMIN_KEY", help="The admin key `tenure up` printed")
    ] = "",
    ingest_url: Annotated[str, _url_option("ingest")] = "http://127.0.0.1:8001",
    scoring_url: Annotated[str, _url_option("scoring")] = "http://127.0.0.1:8002",
    offers_url: Annotated[str, _url_option("offers")] = "http://127.0.0.1:8003",
    ledger_url: Annotated[str, _url_option("ledger")] = "http://127.0.0.1:8004",
    console_url: Annotated[str, _url_option("console")] = "http://127.0.0.1:8000",
) -> None:
    """Load a synthetic book through the public APIs against a running platform (`make up`),
    then print what it made of it: scores, offers, budgets, liability, the back-test; and
    make the console's demo people (an owner, an approver, finance, CS), printing how to sign in.

    Safe to run twice: a second run sends the same book, which adds no accounts, events or
    offers.
    """
    urls = {
        "ingest": ingest_url,
        "scoring": scoring_url,
        "offers": offers_url,
        "ledger": ledger_url,
    }
    if not admin_key:
        console.print(
            "[red]No admin key.[/] Pass --admin-key or set TENURE_ADMIN_KEY to the key"
            " `make up` printed at its first start (or make one: tenure keys create"
            " --principal admin --scope admin)."
        )
        raise typer.Exit(2)
    down = asyncio.run(ready(urls))
    if down:
        console.print(
            f"[red]Not answering: {', '.join(down)}.[/] Start the platform in another terminal"
            " with `make up` (or `tenure up`), then run `tenure demo` again."
        )
        raise typer.Exit(1)
    options = Options(accounts, days, seed, urls, admin_key, history_every=history_every)
    out = Console()
    try:
        asyncio.run(run_and_report(options, out))
    except DemoError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    make_demo_people(out, console_url)
