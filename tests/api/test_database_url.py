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


@pytest.mark.parametrize(
    ("database_url", "refusal"),
    [
        (None, "DATABASE_URL is not set.*gridpatrol serve"),
        # Unreachable: reported as such, never replaced by a database started on the spot.
        (f"postgresql://nobody:pw@127.0.0.1:{free_port()}/none", "Cannot connect"),
    ],
)
def test_the_api_starts_no_database_of_its_own(
    tmp_path: Path, database_url: str | None, refusal: str
) -> None:
    home = tmp_path / "home"
    settings = Settings(
        database_url=database_url, home=home, secret_key=TEST_SECRET_KEY, tile_url=""
    )
    with pytest.raises(DatabaseUnavailable, match=refusal), TestClient(create_app(settings)):
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
