"""The API only ever connects to ``DATABASE_URL``: it never starts PostgreSQL (the embedded
development cluster belongs to the command line, ``cli/cluster.py``)."""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from gis.core.errors import DatabaseUnavailable
from gis.core.settings import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.live import free_port


def test_without_database_url_the_api_refuses_to_start_and_starts_nothing(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    settings = Settings(database_url=None, home=home, secret_key=TEST_SECRET_KEY, tile_url="")
    with (
        pytest.raises(DatabaseUnavailable, match="DATABASE_URL is not set.*gridpatrol serve"),
        TestClient(create_app(settings)),
    ):
        pass
    assert not home.exists()


def test_an_unreachable_database_url_is_reported_not_replaced(tmp_path: Path) -> None:
    home = tmp_path / "home"
    url = f"postgresql://nobody:pw@127.0.0.1:{free_port()}/none"
    settings = Settings(database_url=url, home=home, secret_key=TEST_SECRET_KEY, tile_url="")
    with (
        pytest.raises(DatabaseUnavailable, match="Cannot connect"),
        TestClient(create_app(settings)),
    ):
        pass
    assert not home.exists()


def test_only_the_command_line_reaches_the_embedded_cluster() -> None:
    graph = grimp.build_graph("gis", "api", "cli", "maps", "data")
    for layer in ("gis", "api", "maps", "data"):
        chain = graph.find_shortest_chain(importer=layer, imported="cli.cluster", as_packages=True)
        assert chain is None, (layer, chain)
    # The check sees such an import when there is one.
    graph.add_import(importer="api.main", imported="cli.cluster")
    assert graph.find_shortest_chain(importer="api", imported="cli.cluster", as_packages=True)
