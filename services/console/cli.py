"""``tenure users``: the console's people, created by the operator."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.console import repository as repo
from services.console.domain.roles import ROLES, Role
from services.console.service.users import create_user, disable_user, ensure_demo_people
from shared.db import standalone_unit_of_work
from shared.embedded import database_url
from shared.errors import TenureError

users_app = typer.Typer(help="People who sign in to the console.", no_args_is_help=True)
_err = Console(stderr=True)


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="Their name: lower case, as in API keys")],
    role: Annotated[
        list[str], typer.Option(help=f"A role, repeat for several: {', '.join(ROLES)}")
    ],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="TENURE_USER_PASSWORD",
            help="At least 12 characters (asked for when not given)",
        ),
    ],
) -> None:
    """Create a person who signs in to the console with a name and password."""

    async def create() -> list[str]:
        async with standalone_unit_of_work(database_url()) as session:
            return list(await create_user(session, name, password, role))

    try:
        roles = asyncio.run(create())
    except TenureError as exc:
        _err.print(f"[red]{exc.detail}[/]")
        raise typer.Exit(2) from exc
    _err.print(f"created {name} ({', '.join(roles)}): sign in at http://127.0.0.1:8000")


@users_app.command("disable")
def users_disable(
    name: Annotated[str, typer.Argument(help="The person to stop signing in")],
) -> None:
    """Stop a person signing in to the console and revoke every key of theirs now."""

    async def disable() -> None:
        async with standalone_unit_of_work(database_url()) as session:
            await disable_user(session, name)

    try:
        asyncio.run(disable())
    except TenureError as exc:
        _err.print(f"[red]{exc.detail}[/]")
        raise typer.Exit(2) from exc
    _err.print(f"disabled {name}: their sessions and API keys are revoked")


@users_app.command("list")
def users_list() -> None:
    """List the console's people (never their password hashes)."""

    async def fetch() -> list[tuple[str, str, str, str]]:
        async with standalone_unit_of_work(database_url()) as session:
            return [
                (u.name, ", ".join(u.roles), str(u.created_at), str(u.disabled_at or ""))
                for u in await repo.list_users(session)
            ]

    table = Table("name", "roles", "created", "disabled")
    for row in asyncio.run(fetch()):
        table.add_row(*row)
    Console().print(table)


def make_demo_people(out: Console, console_url: str) -> None:
    """Make (or reset) the demo's people on this machine's database and print how to sign in
    (their passwords are shown this once)."""

    async def make() -> dict[str, tuple[list[Role], str]]:
        async with standalone_unit_of_work(database_url()) as session:
            return await ensure_demo_people(session)

    table = Table("name", "password", "roles", title=f"Console people: sign in at {console_url}")
    for name, (roles, password) in asyncio.run(make()).items():
        table.add_row(name, password, ", ".join(roles))
    out.print(table)
    out.print(
        f"Open {console_url}, sign in as demo-approver and open Approvals: approve the oldest"
        " renewal credit; then sign in as demo-finance to second it, and follow the offer's"
        " link to its trace (the ledger's grant and its hash)."
    )
