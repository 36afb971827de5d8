"""The one way to the database: URL resolution, engine, migrations."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from gis.core.cluster import EmbeddedCluster
from gis.core.errors import DatabaseUnavailable
from gis.core.settings import Settings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def resolve_database_url(settings: Settings) -> str:
    """``DATABASE_URL`` when set, otherwise the embedded cluster's URL (started if needed)."""
    if settings.database_url:
        return settings.database_url
    return EmbeddedCluster(settings.home).start()


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


def open_database(settings: Settings) -> Engine:
    """Resolve the URL, connect and migrate: what every entry point does first."""
    engine = make_engine(resolve_database_url(settings))
    migrate(engine)
    return engine


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
