"""CLI tests run the real commands against a test database named by ``DATABASE_URL``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine

from gis.settings import get_settings


@pytest.fixture
def use_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Engine], None]]:
    """Point the CLI's settings at ``engine``'s database."""

    def point(engine: Engine) -> None:
        monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
        monkeypatch.setenv("GRIDPATROL_TILE_URL", "")
        get_settings.cache_clear()

    yield point
    get_settings.cache_clear()
