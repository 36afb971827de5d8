"""Tile endpoints over HTTP: MVT with ETags and 204/304, TileJSON, and bad tile addresses."""

from __future__ import annotations

from collections.abc import Iterator

import geopandas as gpd
import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.main import create_app
from api.schemas.tiles import TileIndex, TileJSON
from gis.tiles.mvt import MEDIA_TYPE
from gis.tiles.registry import PUBLISHED
from tests.conftest import settings_for
from tests.gis.tiles.test_mvt import tile_of

Z = 15
X, Y = tile_of(104.06, 30.66, Z)


@pytest.fixture(scope="module")
def client(shared_demo_engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings_for(shared_demo_engine), engine=shared_demo_engine)
    with TestClient(app) as test_client:
        yield test_client


def test_a_tile_is_mvt_with_cache_headers(client: TestClient) -> None:
    response = client.get(f"/tiles/grids/{Z}/{X}/{Y}.mvt")
    assert response.status_code == 200
    assert response.headers["content-type"] == MEDIA_TYPE
    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["access-control-allow-origin"] == "*"
    layers = mapbox_vector_tile.decode(response.content)
    assert set(layers) == {"grids", "grids_labels"} and layers["grids"]["features"]
    # Reports change by the minute: browsers revalidate them every time.
    reports = client.get(f"/tiles/open_reports/{Z}/{X}/{Y}.mvt")
    assert reports.status_code == 200 and reports.headers["cache-control"] == "no-cache"


def test_unchanged_tile_is_304_with_its_etag(client: TestClient) -> None:
    first = client.get(f"/tiles/buildings/{Z}/{X}/{Y}.mvt")
    etag = first.headers["etag"]
    again = client.get(f"/tiles/buildings/{Z}/{X}/{Y}.mvt", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = client.get(f"/tiles/buildings/{Z}/{X}/{Y}.mvt", headers={"If-None-Match": '"x"'})
    assert other.status_code == 200 and other.content == first.content


def test_empty_tiles_are_204(client: TestClient) -> None:
    assert client.get("/tiles/grids/10/0/0.mvt").status_code == 204
    # Below the buildings' minzoom the tile is empty by design, not an error.
    x, y = tile_of(104.06, 30.66, 12)
    response = client.get(f"/tiles/buildings/12/{x}/{y}.mvt")
    assert response.status_code == 204 and response.headers["etag"]


@pytest.mark.parametrize(
    ("path", "status", "word"),
    [
        ("/tiles/grids/23/0/0.mvt", 400, "z"),
        ("/tiles/grids/-1/0/0.mvt", 400, "z"),
        ("/tiles/grids/3/8/0.mvt", 400, "x"),
        ("/tiles/grids/3/0/9.mvt", 400, "y"),
        ("/tiles/grids/3/a/0.mvt", 400, "x"),
        ("/tiles/parcels/3/0/0.mvt", 404, "parcels"),
        ("/tiles/reports/3/0/0.mvt", 404, "reports"),
        ("/tiles/parcels.json", 404, "parcels"),
    ],
)
def test_bad_tile_requests_name_the_problem(
    client: TestClient, path: str, status: int, word: str
) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert word in response.json()["detail"]


def test_tilejson_describes_the_layer(client: TestClient, shared_demo_engine: Engine) -> None:
    response = client.get("/tiles/grids.json")
    assert response.status_code == 200
    document = TileJSON.model_validate(response.json())
    assert document.tiles == ["http://testserver/tiles/grids/{z}/{x}/{y}.mvt"]
    with shared_demo_engine.connect() as conn:
        grids = gpd.read_postgis("SELECT geom FROM grids", conn, geom_col="geom")
    assert document.bounds == pytest.approx(tuple(grids.total_bounds), abs=1e-9)
    assert {layer.id for layer in document.vector_layers} == {"grids", "grids_labels"}
    assert document.vector_layers[0].fields["buildings"] == "Number"
    buildings = TileJSON.model_validate(client.get("/tiles/buildings.json").json())
    assert buildings.minzoom == PUBLISHED["buildings"].minzoom == 14
    index = TileIndex.model_validate(client.get("/tiles").json())
    assert [layer.name for layer in index.layers] == [
        name for name, layer in PUBLISHED.items() if layer.tiles and layer.public
    ]


@pytest.fixture
def writable(demo_engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings_for(demo_engine), engine=demo_engine)
    with TestClient(app) as test_client:
        yield test_client


def test_etag_changes_when_a_source_table_changes(
    writable: TestClient, demo_engine: Engine
) -> None:
    def etags() -> dict[str, str]:
        return {
            layer: writable.get(f"/tiles/{layer}/{Z}/{X}/{Y}.mvt").headers["etag"]
            for layer in ("grids", "buildings", "facilities", "open_reports")
        }

    before = etags()
    assert etags() == before
    with demo_engine.begin() as conn:
        conn.execute(text("UPDATE buildings SET residents = residents + 1 WHERE id = 1"))
    after = etags()
    # Grid tiles count buildings and residents, so they change with the buildings.
    assert after["buildings"] != before["buildings"] and after["grids"] != before["grids"]
    assert after["facilities"] == before["facilities"]
    assert after["open_reports"] == before["open_reports"]
    stale = writable.get(
        f"/tiles/buildings/{Z}/{X}/{Y}.mvt", headers={"If-None-Match": before["buildings"]}
    )
    assert stale.status_code == 200
    # A rolled-back change leaves the version as it was.
    with demo_engine.connect() as conn:
        conn.execute(text("UPDATE facilities SET name = 'x'"))
        conn.rollback()
    assert etags()["facilities"] == before["facilities"]
