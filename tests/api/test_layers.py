"""List endpoints: bbox and paging give exactly what shapely says about the same data."""

from __future__ import annotations

from collections.abc import Iterator

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import create_app
from data import DEMO_DIR
from tests.conftest import settings_for

BBOX = (104.045, 30.650, 104.062, 30.664)


@pytest.fixture(scope="module")
def client(shared_demo_engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings_for(shared_demo_engine), engine=shared_demo_engine)
    with TestClient(app) as test_client:
        yield test_client


def _expected_codes(layer: str, bbox: tuple[float, float, float, float]) -> list[str]:
    frame = gpd.read_file(DEMO_DIR / f"{layer}.geojson")
    hits = frame[frame.intersects(shapely.box(*bbox))]
    return sorted(hits["code"])


def test_health_reports_database_and_postgis(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["postgresql"].startswith("15")
    assert body["postgis"].startswith("3")


@pytest.mark.parametrize("layer", ["grids", "buildings", "facilities", "communities"])
def test_bbox_returns_exactly_the_intersecting_features(client: TestClient, layer: str) -> None:
    bbox = ",".join(map(str, BBOX))
    expected = _expected_codes(layer, BBOX)
    assert expected, "the test bbox must hit something"
    seen: list[str] = []
    offset = 0
    while True:
        page = client.get(f"/{layer}", params={"bbox": bbox, "limit": 37, "offset": offset}).json()
        assert page["numberMatched"] == len(expected)
        seen += [f["properties"]["code"] for f in page["features"]]
        if page["numberReturned"] < 37:
            break
        offset += 37
    assert seen == expected


def test_paging_walks_every_grid_once(client: TestClient) -> None:
    codes = sorted(gpd.read_file(DEMO_DIR / "grids.geojson")["code"])
    first = client.get("/grids", params={"limit": 50}).json()
    second = client.get("/grids", params={"limit": 50, "offset": 50}).json()
    got = [f["id"] for f in first["features"] + second["features"]]
    assert got == codes
    assert first["numberMatched"] == len(codes)


def test_features_are_geojson_in_wgs84(client: TestClient) -> None:
    grid = client.get("/grids", params={"limit": 1}).json()["features"][0]
    assert grid["geometry"]["type"] == "MultiPolygon"
    lon, lat = grid["geometry"]["coordinates"][0][0][0]
    assert 103 < lon < 105 and 30 < lat < 31
    assert grid["properties"]["area_m2"] > 10_000


def test_limit_is_capped_at_the_server_maximum(client: TestClient) -> None:
    page = client.get("/buildings", params={"limit": 100_000}).json()
    assert page["numberReturned"] == page["limit"] == 1000


def test_one_grid_by_code_with_its_figures(client: TestClient) -> None:
    grids = gpd.read_file(DEMO_DIR / "grids.geojson")
    code = grids["code"].iloc[0]
    body = client.get(f"/grids/{code}").json()
    assert body["id"] == code
    assert body["properties"]["name"] == grids["name"].iloc[0]
    area = grids.to_crs(32648).area.iloc[0]
    assert abs(body["properties"]["area_m2"] - area) / area < 0.005


@pytest.mark.parametrize(
    ("url", "status", "needle"),
    [
        ("/grids?bbox=1,2,3", 422, "4 numbers"),
        ("/grids?bbox=a,b,c,d", 422, "numbers"),
        ("/grids?bbox=104,31,103,30", 422, "min must not exceed max"),
        ("/grids?bbox=0,95,1,96", 422, "latitudes"),
        ("/grids?limit=0", 422, "limit"),
        ("/grids?offset=-1", 422, "offset"),
        ("/grids/123", 404, "no grid with code '123'"),
    ],
)
def test_bad_queries_say_what_is_wrong(
    client: TestClient, url: str, status: int, needle: str
) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert needle in response.json()["detail"]
