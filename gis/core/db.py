"""The one way to the database: URL resolution, engine, migrations, and the async pool of
the hot read paths."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from psycopg import AsyncConnection
from psycopg import OperationalError as DriverOperationalError
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.exc import OperationalError

from gis.core.errors import DatabaseUnavailable
from gis.core.settings import Settings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


NO_DATABASE_URL = (
    "DATABASE_URL is not set. The API never starts a database itself: run `gridpatrol serve` "
    "(it starts and watches the embedded development database), or set DATABASE_URL to a "
    "PostGIS database (for the embedded one: DATABASE_URL=$(gridpatrol db url))."
)


def resolve_database_url(settings: Settings) -> str:
    """``DATABASE_URL``; the domain and the API never start PostgreSQL (the embedded
    development cluster is the command line's business, ``cli/cluster.py``)."""
    if settings.database_url:
        return settings.database_url
    raise DatabaseUnavailable(NO_DATABASE_URL)


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    """An engine on ``url``; connections are checked before use so a restart is survived.

    Statement parameters are left out of error messages: they hold residents' names and
    phones, and those messages end up in logs.
    """
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        hide_parameters=True,
        future=True,
    )


AsyncPool = AsyncConnectionPool[AsyncConnection[tuple[Any, ...]]]


def async_pool(
    engine: Engine, *, min_size: int = 1, max_size: int = 8, timeout_s: float = 3.0
) -> AsyncPool:
    """An async psycopg pool on ``engine``'s database for read paths that run on the event
    loop (vector tiles); open it with ``await pool.open()`` inside that loop.

    Unlike the engine's, connections are not pinged before use: that round trip costs as
    much as a small tile. ``fetch_row`` instead replaces a connection found broken (the
    database restarted) and runs its statement again. A caller that gets no connection
    within ``timeout_s`` (the database is down) gets ``PoolTimeout``, an ``OperationalError``;
    the pool retries connecting for 10 s at a time, so it is back within seconds of the
    database.

    Connections are in autocommit: a statement is its own snapshot, none is left in a
    transaction. Statements repeated on a connection are prepared (psycopg does it from the
    fifth run) and keep their generic plan: PostgreSQL would plan a tile statement anew on
    every run (its cost model never prefers the generic plan here), and planning takes
    longer than making a small tile. So only statements whose plan does not hinge on their
    parameters belong here; a tile's envelope is computed inside its statement.
    """
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    options = "-c plan_cache_mode=force_generic_plan"
    if zone := time_zone_of(engine):
        options += f" -c TimeZone={zone}"
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout_s,
        reconnect_timeout=10.0,
        kwargs={"autocommit": True, "options": options},
        open=False,
        name="read",
    )


def pyformat(sql: str) -> str:
    """``sql`` with SQLAlchemy's ``:name`` parameters in psycopg's ``%(name)s`` style (``%``
    escaped), compiled by SQLAlchemy as a statement run through the engine is."""
    return str(text(sql).compile(dialect=psycopg_dialect.dialect()))  # type: ignore[no-untyped-call]


async def fetch_row(pool: AsyncPool, query: str, params: Mapping[str, Any]) -> tuple[Any, ...]:
    """The first row of one read-only statement (``%(name)s`` parameters), in binary format
    (bytea arrives as bytes, not hex text); psycopg prepares it once it repeats.

    A connection that turns out broken — the database restarted since it was opened — makes
    the pool check its other idle connections and the statement run once more on a new one;
    other errors (and a second failure: the database is down) are raised.
    """
    for retry in (False, True):
        conn = await pool.getconn()
        try:
            cursor = await conn.execute(query, params, binary=True)
            row = await cursor.fetchone()
        except DriverOperationalError:
            if retry or not conn.broken:
                raise
        else:
            if row is None:
                raise ValueError("the statement returned no row")
            return row
        finally:
            await pool.putconn(conn)
        await pool.check()
    raise AssertionError("unreachable: the retry returns or raises")


def check_connection(engine: Engine) -> None:
    """Raise ``DatabaseUnavailable`` naming the problem when the database is not usable."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        raise DatabaseUnavailable(
            f"Cannot connect to the database at {engine.url.render_as_string(hide_password=True)}: "
            f"{exc.orig}"
        ) from exc


def refresh_statistics(engine: Engine) -> None:
    """ANALYZE after a bulk load. Until autovacuum comes round (a minute or more later), fresh
    tables have no statistics and the planner guesses a handful of rows: it then joins whole
    tables in nested loops (the care-visits overlay took 94 s instead of 0.1 s right after
    the demo city was loaded). ANALYZE samples each table, seconds even for a large city."""
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    check_connection(engine)
    try:
        command.upgrade(alembic_config(engine), "head")
    except Exception as exc:  # the extension may be missing on a foreign server
        message = str(getattr(exc, "orig", exc))
        if "extension" in message and ("postgis" in message or "pgrouting" in message):
            raise DatabaseUnavailable(
                f"The database lacks PostGIS/pgRouting: {message.strip()}. Install "
                "postgresql-15-postgis-3 and postgresql-15-pgrouting on that server."
            ) from exc
        raise


def open_database(url: str, *, timezone: str | None = None) -> Engine:
    """Connect to ``url`` and migrate: what every entry point does first. With ``timezone``
    (GRIDPATROL_TIMEZONE) times are read in that zone (``use_time_zone``)."""
    engine = make_engine(url)
    if timezone is not None:
        use_time_zone(engine, timezone)
    migrate(engine)
    return engine


# The zone each engine's connections are set to (``use_time_zone``).
_ZONES: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def use_time_zone(engine: Engine, zone: str) -> None:
    """Make ``engine``'s connections read times in ``zone`` (PostgreSQL's ``TimeZone``).

    Every ``timestamptz`` then reaches Python with the configured zone's offset, so the same
    stored time is written the same way by every route, page and command (GRIDPATROL_TIMEZONE)
    without each of them converting. Connections already open with another zone are dropped.
    """
    if _ZONES.get(engine) == zone:
        return
    first = engine not in _ZONES
    _ZONES[engine] = zone
    if first:

        def set_zone(dbapi_connection: Any, _record: Any) -> None:
            autocommit = dbapi_connection.autocommit
            dbapi_connection.autocommit = True
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT set_config('TimeZone', %s, false)", (_ZONES[engine],))
            dbapi_connection.autocommit = autocommit

        event.listen(engine, "connect", set_zone)
    engine.pool.dispose()


def time_zone_of(engine: Engine) -> str | None:
    """The zone ``use_time_zone`` set on ``engine`` (None: the server's default)."""
    return _ZONES.get(engine)


def server_versions(engine: Engine) -> dict[str, str]:
    """Versions of PostgreSQL, PostGIS and pgRouting the engine talks to."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT current_setting('server_version'), postgis_lib_version(), "
                "(SELECT extversion FROM pg_extension WHERE extname = 'pgrouting')"
            )
        ).one()
    return {"postgresql": row[0], "postgis": row[1], "pgrouting": row[2] or "not installed"}
