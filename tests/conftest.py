"""A real PostGIS for the whole suite: a throwaway cluster (or ``DATABASE_URL``'s server).

Isolation is by database: the session builds two templates, one migrated and empty, one with
the demo city loaded; a test that writes gets its own ``CREATE DATABASE … TEMPLATE`` copy
(fast: a file copy), and read-only tests share one demo database. Nothing is mocked.
When the database cannot be had, the suite errors: a skipped database test is a failure.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

import psycopg
import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

from cli.cluster import EmbeddedCluster
from gis.city import history_shift, load_city
from gis.core.db import make_engine, migrate
from gis.core.settings import Settings, get_settings
from gis.reports.categories import get_categories
from gis.territory.layers import LAYERS

# The settings' defaults, untouched by the environment, and what follows from them.
DEFAULTS = Settings.model_construct()
# The bundled categories (what the server uses with no GRIDPATROL_CATEGORIES_FILE).
CATEGORIES = get_categories(DEFAULTS.categories_file)


class Thresholds(TypedDict):
    sliver_area_m2: float
    split_share: float


# The topology thresholds a server uses when not configured otherwise.
THRESHOLDS = Thresholds(sliver_area_m2=DEFAULTS.sliver_area_m2, split_share=DEFAULTS.split_share)

# When the test session loads the demo city: its report history is moved to end then
# (``gis.city.history_shift``), so its open queue is current; ``demo_time`` maps a time of the
# history as written in data/demo/reports.csv to the time stored in the test databases.
DEMO_LOADED_AT = datetime.now(UTC).replace(second=0, microsecond=0)
DEMO_SHIFT = history_shift(now=DEMO_LOADED_AT)


def demo_time(written: str) -> datetime:
    """``written`` (ISO 8601 with offset, as in the demo's reports.csv) as the tests store it."""
    return datetime.fromisoformat(written) + DEMO_SHIFT


def demo_iso(written: str) -> str:
    """``demo_time`` as ISO 8601 text."""
    return demo_time(written).isoformat()


EMPTY_TEMPLATE = "gp_test_empty"
DEMO_TEMPLATE = "gp_test_demo"
CITY_TEMPLATE = "gp_test_city"


class TestServer:
    """The PostgreSQL server the tests create their databases on."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url).set(drivername="postgresql+psycopg")

    def url_for(self, dbname: str) -> str:
        return self.url.set(database=dbname).render_as_string(hide_password=False)

    def admin(self) -> psycopg.Connection:
        params = self.url.set(drivername="postgresql", database="postgres")
        return psycopg.connect(params.render_as_string(hide_password=False), autocommit=True)

    def create_database(self, name: str, *, template: str | None = None) -> str:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            clause = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{clause}')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server() -> Iterator[TestServer]:
    """``DATABASE_URL``'s server when set, else a throwaway embedded cluster."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield TestServer(url)
        return
    # Not pytest's tmp_path: its parents are closed to the postgres user when we run as root.
    home = Path(tempfile.mkdtemp(prefix="gridpatrol-test-pg-"))
    home.chmod(0o755)
    cluster = EmbeddedCluster(home, durable=False)
    cluster.start()
    try:
        yield TestServer(cluster.url)
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def templates(pg_server: TestServer) -> Iterator[dict[str, str]]:
    """Build the empty, demo, and demo-without-report-history templates once per session."""
    suffix = uuid.uuid4().hex[:6]
    empty, demo = f"{EMPTY_TEMPLATE}_{suffix}", f"{DEMO_TEMPLATE}_{suffix}"
    city = f"{CITY_TEMPLATE}_{suffix}"
    engine = make_engine(pg_server.create_database(empty))
    migrate(engine)
    engine.dispose()
    engine = make_engine(pg_server.create_database(demo, template=empty))
    load_city(engine, categories=CATEGORIES, now=DEMO_LOADED_AT)
    engine.dispose()
    engine = make_engine(pg_server.create_database(city, template=demo))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM reports"))
    engine.dispose()
    yield {"empty": empty, "demo": demo, "city": city}
    pg_server.drop_database(city)
    pg_server.drop_database(demo)
    pg_server.drop_database(empty)


def fresh_database(pg_server: TestServer, template: str) -> Iterator[Engine]:
    """A new database copied from ``template``, dropped when the generator finishes."""
    name = f"gp_t_{uuid.uuid4().hex[:12]}"
    engine = make_engine(pg_server.create_database(name, template=template), pool_size=5)
    try:
        yield engine
    finally:
        engine.dispose()
        pg_server.drop_database(name)


@pytest.fixture
def empty_engine(pg_server: TestServer, templates: dict[str, str]) -> Iterator[Engine]:
    """A migrated, empty database of this test's own."""
    yield from fresh_database(pg_server, templates["empty"])


@pytest.fixture
def demo_engine(pg_server: TestServer, templates: dict[str, str]) -> Iterator[Engine]:
    """A database with the demo city, this test's own to change."""
    yield from fresh_database(pg_server, templates["demo"])


@pytest.fixture
def city_engine(pg_server: TestServer, templates: dict[str, str]) -> Iterator[Engine]:
    """The demo city without its report history (a clean intake queue), this test's own."""
    yield from fresh_database(pg_server, templates["city"])


@pytest.fixture(scope="session")
def shared_demo_engine(pg_server: TestServer, templates: dict[str, str]) -> Iterator[Engine]:
    """One demo-city database shared by read-only tests (do not write to it)."""
    yield from fresh_database(pg_server, templates["demo"])


def count_features(conn: Connection) -> dict[str, int]:
    """Rows per stored layer."""
    return {
        name: int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())
        for name in LAYERS
    }


# Signs the tests' tokens: no key file is written into the working tree's .gridpatrol/.
TEST_SECRET_KEY = "test-signing-key-" + "x" * 32


# Photos the tests store: content-addressed files, so tests can share one directory, kept
# out of the checkout's .gridpatrol/ (a test checking its own files passes its own photo_dir).
TEST_PHOTO_DIR = Path(tempfile.gettempdir()) / f"gridpatrol-test-photos-{os.getuid()}"


def settings_for(engine: Engine, **overrides: object) -> Settings:
    """Settings pointing at ``engine``'s database, offline, with a test signing key.

    Anonymous intake is not rate-limited here (tests post many reports from one client);
    the rate-limit tests turn it on with ``intake_rate_per_minute``.
    """
    url = engine.url.render_as_string(hide_password=False)
    values: dict[str, object] = {
        "database_url": url,
        "tile_url": "",
        "secret_key": TEST_SECRET_KEY,
        "intake_rate_per_minute": 0,
        "heavy_rate_per_minute": 0,
        "login_rate_per_minute": 0,
        "photo_dir": TEST_PHOTO_DIR,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


@pytest.fixture
def use_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Engine], None]]:
    """Point the CLI's settings (``DATABASE_URL``) at ``engine``'s database, offline."""

    def point(engine: Engine) -> None:
        monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
        monkeypatch.setenv("GRIDPATROL_TILE_URL", "")
        monkeypatch.setenv("GRIDPATROL_SECRET_KEY", TEST_SECRET_KEY)
        get_settings.cache_clear()

    yield point
    get_settings.cache_clear()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failure: a missing database or browser must not pass quietly."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("CI") and skipped and exitstatus == 0:
        if reporter:
            reporter.write_line(f"CI: {skipped} test(s) skipped; failing the run", red=True)
        session.exitstatus = 1
