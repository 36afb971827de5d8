"""Accounts on the server's machine: ``users add|list|disable|token``; ``purge-contacts`` and
``purge-households`` (retention of residents' personal data).

Passwords come from a prompt (typed twice) or, when stdin is not a terminal, from its first
line (``printf '%s\\n' "$PW" | gridpatrol users add …``); never from a flag, which would
land in the shell history and the process list.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from cli.app import app, console, err_console, json_option, open_engine, run
from gis.access.accounts import (
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    Account,
    create_user,
    disable_user,
    get_user,
    list_users,
)
from gis.access.policy import ACCOUNT_ROLES
from gis.access.tokens import MAX_TOKEN_DAYS, issue_token, signing_key
from gis.core.errors import InvalidInput
from gis.core.settings import get_settings
from gis.core.timewindow import in_zone
from gis.households.retention import purge_moved_out
from gis.reports.retention import purge_contacts, remove_photo_files

users_app = typer.Typer(help="Accounts that sign in (workers, dispatchers, analysts, admins).")
app.add_typer(users_app, name="users")

ROLE_HELP = f"one of: {', '.join(ACCOUNT_ROLES)}"


def _read_password() -> str:
    if sys.stdin.isatty():
        password: str = typer.prompt(
            f"password ({MIN_PASSWORD_CHARS}-{MAX_PASSWORD_CHARS} characters)",
            hide_input=True,
            confirmation_prompt=True,
        )
        return password
    line = sys.stdin.readline()
    if not line:
        raise InvalidInput("password: stdin is empty; pipe the password as its first line")
    return line.rstrip("\r\n")


def _reach(account: Account) -> str:
    """What the account reaches, in words."""
    if account.scope_code:
        return account.scope_code
    return "its worker's grids" if account.role == "worker" else "whole city"


def _print_account(account: Account, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(account.describe()))
    else:
        scope = _reach(account)
        worker = f", worker {account.worker_code}" if account.worker_code else ""
        state = " (disabled)" if account.disabled else ""
        console.print(f"{account.name}: {account.role}, {scope}{worker}{state}", highlight=False)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="1-64 letters, digits or ._@-")],
    role: Annotated[str, typer.Option("--role", help=ROLE_HELP)],
    scope: Annotated[
        str,
        typer.Option(
            "--scope",
            help="district, sub-district, community or grid code it reaches; empty: whole city "
            "(admins)",
        ),
    ] = "",
    worker: Annotated[
        str | None, typer.Option("--worker", help="worker accounts: the worker code (its grids)")
    ] = None,
    as_json: Annotated[bool, json_option("machine-readable result")] = False,
) -> None:
    """Create an account; the password is read from a prompt or stdin, never a flag."""
    password = run(_read_password)
    engine = open_engine(get_settings())

    def create() -> Account:
        with engine.begin() as conn:
            return create_user(
                conn, name=name, role=role, password=password, scope_code=scope, worker_code=worker
            )

    _print_account(run(create), as_json)


@users_app.command("list")
def users_list(
    as_json: Annotated[bool, json_option("machine-readable list")] = False,
) -> None:
    """Every account with its role, scope, worker and last sign-in."""
    engine = open_engine(get_settings())
    with engine.connect() as conn:
        accounts = list_users(conn)
    if as_json:
        console.print_json(json.dumps([a.describe() for a in accounts]))
        return
    table = Table("name", "role", "scope", "worker", "disabled", "last sign-in")
    for a in accounts:
        table.add_row(
            a.name,
            a.role,
            _reach(a),
            a.worker_code or "",
            "yes" if a.disabled else "",
            a.last_login_at.isoformat(timespec="minutes") if a.last_login_at else "never",
        )
    console.print(table)


@users_app.command("disable")
def users_disable(
    name: str,
    as_json: Annotated[bool, json_option("machine-readable result")] = False,
) -> None:
    """Disable an account: it cannot sign in and its tokens stop working at once."""
    engine = open_engine(get_settings())

    def disable() -> Account:
        with engine.begin() as conn:
            return disable_user(conn, name)

    _print_account(run(disable), as_json)


@users_app.command("token")
def users_token(
    name: str,
    days: Annotated[
        int, typer.Option("--days", min=1, max=MAX_TOKEN_DAYS, help="how long it is valid")
    ] = 30,
    as_json: Annotated[bool, json_option("machine-readable result")] = False,
) -> None:
    """Print a bearer token for an integration (valid DAYS days; disabling the account
    revokes it)."""
    settings = get_settings()
    engine = open_engine(settings)

    def issue() -> tuple[str, str]:
        with engine.connect() as conn:
            account = get_user(conn, name)
        if account.disabled:
            raise InvalidInput(f"account {name!r} is disabled")
        issued = issue_token(account, key=signing_key(settings), lifetime=timedelta(days=days))
        # In GRIDPATROL_TIMEZONE, as every time the CLI prints.
        return issued.token, issued.expires_at.astimezone(settings.zone).isoformat()

    token, expires_at = run(issue)
    if as_json:
        console.print_json(
            json.dumps({"access_token": token, "token_type": "bearer", "expires_at": expires_at})
        )
        return
    # The token alone on stdout (for $(...)); when it expires on stderr.
    typer.echo(token)
    err_console.print(f"valid until {expires_at}", highlight=False)


@app.command("purge-contacts")
def purge_contacts_command(
    older_than: Annotated[
        int, typer.Option("--older-than", min=0, help="days since the report was closed")
    ],
    as_json: Annotated[bool, json_option("machine-readable result")] = False,
) -> None:
    """Blank reporter name, phone and photo of reports closed more than DAYS days ago, and
    delete the photos the resident attached (the reports, their event log and the photos of
    the work stay)."""
    settings = get_settings()
    engine = open_engine(settings)

    def purge() -> dict[str, int]:
        with engine.begin() as conn:
            result = purge_contacts(conn, older_than_days=older_than)
        files = remove_photo_files(engine, result.files, settings=settings)
        counts = {k: v for k, v in dataclasses.asdict(result).items() if k != "files"}
        return counts | {"photo_files": files}

    result = run(purge)
    if as_json:
        console.print_json(json.dumps(result))
    else:
        console.print(
            f"blanked the contact of {result['reports']} closed report(s) older than "
            f"{older_than} day(s); {result['events']} intake event(s) no longer name the "
            f"reporter; deleted {result['photos']} resident's photo(s) "
            f"({result['photo_files']} file(s))",
            highlight=False,
        )


@app.command("purge-households")
def purge_households_command(
    moved_out_before: Annotated[
        datetime,
        typer.Option(
            "--moved-out-before",
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"],
            help="a date (or time) in GRIDPATROL_TIMEZONE: households that left before it",
        ),
    ],
    as_json: Annotated[bool, json_option("machine-readable result")] = False,
) -> None:
    """Blank head's name, phone, members and care flags of households that moved out before
    the date, and their visits' notes (codes, buildings and visit times stay)."""
    settings = get_settings()
    engine = open_engine(settings)
    before = in_zone(moved_out_before, settings.zone)
    assert before is not None

    def purge() -> dict[str, object]:
        with engine.begin() as conn:
            result = purge_moved_out(conn, before=before)
        return dataclasses.asdict(result)

    result = run(purge)
    if as_json:
        console.print_json(json.dumps(result))
    else:
        console.print(
            f"blanked the personal data of {result['households']} household(s) that moved out "
            f"before {result['moved_out_before']}; {result['visit_notes']} visit note(s) removed",
            highlight=False,
        )
