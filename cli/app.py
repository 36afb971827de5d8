"""The typer app and what every command shares: error mapping, progress, the engine."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from cli.cluster import EmbeddedCluster
from gis.core.db import open_database
from gis.core.errors import (
    Conflict,
    DatabaseUnavailable,
    Forbidden,
    GridpatrolError,
    ImportRejected,
    InvalidInput,
    NotFound,
    Unauthorized,
)
from gis.core.settings import Settings, default_home, get_settings
from gis.reports.categories import Category, get_categories
from gis.territory.importing import ImportResult, describe
from gis.territory.layers import database_is_empty

app = typer.Typer(
    help="gridpatrol: grid-based community governance on PostGIS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(
    help="The embedded PostGIS cluster in the home (GRIDPATROL_HOME; see `db status`).",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")

EXIT_CODES: dict[type[GridpatrolError], int] = {
    InvalidInput: 2,
    ImportRejected: 2,
    NotFound: 4,
    DatabaseUnavailable: 3,
    Conflict: 5,
    Unauthorized: 6,
    Forbidden: 6,
}


# Set by ``--json`` options as they are parsed (``json_option``), reset per invocation.
_json_output = False


def _remember_json(value: bool) -> bool:
    global _json_output
    _json_output = _json_output or bool(value)
    return value


def json_option(help: str = "machine-readable output") -> Any:
    """The ``--json`` option of every command: it also makes errors print JSON on stdout."""
    return typer.Option("--json", help=help, callback=_remember_json)


def fail(exc: GridpatrolError) -> NoReturn:
    """Print a domain error and exit with its code; with ``--json`` also as JSON on stdout."""
    err_console.print(f"[bold red]error:[/] {exc.detail}", highlight=False, soft_wrap=True)
    code = next((c for cls, c in EXIT_CODES.items() if isinstance(exc, cls)), 1)
    if _json_output:
        # Scripts reading stdout get a result whatever happened.
        body: dict[str, object] = {
            "ok": False,
            "error": type(exc).__name__,
            "detail": exc.detail,
            "exit_code": code,
        }
        if isinstance(exc, ImportRejected) and exc.problems:
            body["problems"] = exc.problems
        typer.echo(json.dumps(body, ensure_ascii=False))
    raise typer.Exit(code)


def run(action: Callable[[], T]) -> T:
    """Run ``action``, turning domain errors into a message and an exit code."""
    try:
        return action()
    except GridpatrolError as exc:
        fail(exc)


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """A rich progress bar fed by the domain's ``progress(step, done, total)`` callbacks."""
    if not enabled:
        yield None
        return
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as bar:

        def update(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        yield update


_open_engines: list[Engine] = []


def _same_place(a: Path, b: Path) -> bool:
    return a.expanduser().absolute().resolve() == b.expanduser().absolute().resolve()


def describe_database(settings: Settings) -> str | None:
    """One line naming the database a command uses, when it is not the usual one (the
    embedded cluster in the default home); None when it is."""
    if settings.database_url:
        try:
            masked = make_url(settings.database_url).render_as_string(hide_password=True)
        except ArgumentError:
            masked = "(not a URL SQLAlchemy can read)"
        return f"database: {masked} (from DATABASE_URL)"
    if not _same_place(settings.home, default_home()):
        return f"database: the embedded cluster in {settings.home.absolute()} (GRIDPATROL_HOME)"
    return None


def _stray_home(settings: Settings) -> Path | None:
    """A ``.gridpatrol`` cluster in the working directory that is not the home: what older
    versions made when run from elsewhere; it is never used, so say where the data is."""
    here = Path.cwd() / ".gridpatrol"
    if settings.database_url or not (here / "pgdata" / "PG_VERSION").exists():
        return None
    return None if _same_place(here, settings.home) else here


def database_url(settings: Settings) -> str:
    """The URL commands connect to: ``DATABASE_URL``, else the embedded cluster in the home,
    started (and made, the first time, said on stderr) when needed."""
    note = describe_database(settings)
    if note:
        err_console.print(note, highlight=False, soft_wrap=True)
    stray = _stray_home(settings)
    if stray is not None:
        err_console.print(
            f"note: {stray} is another embedded database, not used: the home is "
            f"{settings.home.absolute()} (set GRIDPATROL_HOME={stray} to use that one)",
            highlight=False,
            soft_wrap=True,
        )
    if settings.database_url:
        return settings.database_url
    cluster = EmbeddedCluster(settings.home)
    if not cluster.initialised:
        err_console.print(
            f"creating a new, empty embedded database in {cluster.home} (first use of this "
            "home; GRIDPATROL_HOME or DATABASE_URL choose another)",
            highlight=False,
            soft_wrap=True,
        )
    return run(cluster.start)


def open_engine(settings: Settings) -> Engine:
    """The migrated database engine, disposed of when the command ends."""
    url = database_url(settings)
    # Times the commands print are in GRIDPATROL_TIMEZONE, as the API gives them.
    engine = run(lambda: open_database(url, timezone=settings.timezone))
    _open_engines.append(engine)
    return engine


def warn_if_empty(engine: Engine, settings: Settings, *, consequence: str) -> bool:
    """Say on stderr that the database holds no territory, where a command expects one
    (``consequence``: what that means for its output); True when it is empty."""
    with engine.connect() as conn:
        empty = database_is_empty(conn)
    if empty:
        where = describe_database(settings) or f"database: the embedded cluster in {settings.home}"
        err_console.print(
            f"[bold yellow]warning:[/] the database holds no territory (no district loaded; "
            f"{where}): {consequence}. Load one with `gridpatrol demo` or `gridpatrol load`.",
            highlight=False,
            soft_wrap=True,
        )
    return empty


def configured_categories(settings: Settings) -> dict[str, Category]:
    """The categories of the file the settings name; a malformed file exits with code 2."""
    return run(lambda: get_categories(settings.categories_file))


def _dispose_engines() -> None:
    while _open_engines:
        _open_engines.pop().dispose()


@app.callback()
def _per_invocation(ctx: typer.Context) -> None:
    """Read the environment anew and close connections at the end of every invocation."""
    global _json_output
    _json_output = False
    get_settings.cache_clear()
    ctx.call_on_close(_dispose_engines)


def print_results(results: list[ImportResult], as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps([describe(r) for r in results]))
        return
    table = Table("layer", "features", "inserted", "updated", "unchanged")
    for r in results:
        table.add_row(r.layer, str(r.features), str(r.inserted), str(r.updated), str(r.unchanged))
    console.print(table)
