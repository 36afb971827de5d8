"""``/service-areas``, ``/service-areas/gaps`` and ``/service-areas/siting`` on the demo city:
三河社区 beyond 15 minutes on district A's side while B's stations across the border serve
most of it; walk areas checked against straight-line distances (a walk is never shorter)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Geod
from shapely.geometry import shape
from sqlalchemy import Engine

from api.main import create_app
from data import DEMO_DIR
from gis.city import demo_manifest
from tests.conftest import settings_for

GEOD = Geod(ellps="WGS84")
LIMIT_M = 15 * 4.5 * 1000 / 60


@pytest.fixture(scope="module")
def client(shared_demo_engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings_for(shared_demo_engine), engine=shared_demo_engine)
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def gaps(client: TestClient) -> dict[str, Any]:
    response = client.get("/service-areas/gaps", params={"limit": 1000})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_walk_areas_hold_their_station_and_serve_no_one_beyond_a_straight_walk(
    client: TestClient,
) -> None:
    body = client.get("/service-areas").json()
    stations = gpd.read_file(DEMO_DIR / "facilities.geojson")
    stations = stations[stations["kind"] == "service_station"].set_index("code")
    assert {f["properties"]["code"] for f in body["features"]} == set(stations.index)
    buildings = gpd.read_file(DEMO_DIR / "buildings.geojson")
    points = shapely.point_on_surface(buildings.geometry.values)
    bx, by = shapely.get_x(points), shapely.get_y(points)
    for feature in body["features"]:
        props = feature["properties"]
        area = shape(feature["geometry"])
        station = stations.loc[props["code"]].geometry
        assert area.geom_type in ("Polygon", "MultiPolygon") and area.is_valid
        assert area.contains(station)
        # A walk along streets is at least the straight line: no more buildings are served
        # than lie within the limit as the crow flies.
        _, _, crow = GEOD.inv([station.x] * len(bx), [station.y] * len(by), bx, by)
        assert 0 < props["buildings"] <= int((crow <= LIMIT_M).sum())
    # Not a circle of the limit's radius around each station: streets only.
    first = body["features"][0]
    station = stations.loc[first["properties"]["code"]].geometry
    circle_deg2 = 3.1416 * (LIMIT_M / 96_000) * (LIMIT_M / 111_000)
    assert shape(first["geometry"]).area < circle_deg2


def test_gaps_show_the_straddling_community_beyond_on_one_side_and_served_across(
    gaps: dict[str, Any],
) -> None:
    straddler = demo_manifest()["straddling_community"]
    own_district = straddler[:6]
    beyond = [g for g in gaps["gaps"] if g["community_code"] == straddler]
    assert beyond, "三河社区 has buildings beyond 15 minutes"
    assert {g["district_code"] for g in beyond} == {own_district}
    assert all(g["walk_minutes"] > 15 for g in beyond)
    across = [g for g in gaps["across_border"] if g["community_code"] == straddler]
    assert any(g["within_limit"] for g in across)
    assert all(g["nearest_facility_district"] != g["district_code"] for g in across)
    # Totals add up, per district and per community.
    assert gaps["gaps_matched"] == gaps["beyond_buildings"] == len(gaps["gaps"])
    for key in ("beyond_buildings", "beyond_residents", "buildings", "residents"):
        assert sum(u[key] for u in gaps["by_district"]) == gaps[key]
        assert sum(u[key] for u in gaps["by_community"]) == gaps[key]
    (sanhe,) = [u for u in gaps["by_community"] if u["code"] == straddler]
    assert sanhe["name"] == "三河社区" and sanhe["beyond_buildings"] == len(beyond)
    walks = [g["walk_minutes"] for g in gaps["gaps"] if g["walk_minutes"] is not None]
    assert walks == sorted(walks, reverse=True)


def test_gaps_pages(client: TestClient, gaps: dict[str, Any]) -> None:
    page = client.get("/service-areas/gaps", params={"limit": 5, "offset": 5}).json()
    assert page["gaps_matched"] == gaps["gaps_matched"]
    assert [g["code"] for g in page["gaps"]] == [g["code"] for g in gaps["gaps"][5:10]]


def test_siting_brings_residents_within_and_beats_or_ties_greedy(
    client: TestClient, gaps: dict[str, Any]
) -> None:
    response = client.post(
        "/service-areas/siting", json={"new_sites": 2, "candidates": "facilities"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["optimal"] and body["mip_gap"] == pytest.approx(0, abs=1e-9)
    assert body["covered_before"] == gaps["residents"] - gaps["beyond_residents"]
    assert body["covered_after"] > body["covered_before"]
    assert body["greedy_covered_after"] <= body["covered_after"]
    assert len(body["sites"]) == 2
    assert sum(d["covered_after"] for d in body["by_district"]) == body["covered_after"]
    # A site's own gain never exceeds what the pair gains together.
    gained = body["covered_after"] - body["covered_before"]
    assert all(0 < s["new_residents"] <= gained for s in body["sites"])


def test_siting_among_given_points(client: TestClient, gaps: dict[str, Any]) -> None:
    # One point at the farthest building beyond the limit, one at a station (adds nothing).
    far = gaps["gaps"][0]
    points = [
        {"lon": far["lon"], "lat": far["lat"], "label": "by the farthest"},
        {"lon": 104.0616752, "lat": 30.6653724, "label": "at FAC-000005"},
    ]
    body = client.post("/service-areas/siting", json={"new_sites": 1, "candidates": points}).json()
    assert body["candidates"] == 2
    (site,) = body["sites"]
    assert site["label"] == "by the farthest" and site["new_residents"] >= far["residents"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "named"),
    [
        ("GET", "/service-areas", {"params": {"kind": "tower"}}, "tower"),
        ("GET", "/service-areas", {"params": {"minutes": 0}}, "minutes"),
        ("GET", "/service-areas/gaps", {"params": {"minutes": "soon"}}, "minutes"),
        ("GET", "/service-areas/gaps", {"params": {"walk_speed_kmh": 99}}, "walk_speed_kmh"),
        ("POST", "/service-areas/siting", {"json": {"new_sites": 0}}, "new_sites"),
        (
            "POST",
            "/service-areas/siting",
            {"json": {"new_sites": 1, "candidates": "towers"}},
            "candidates",
        ),
        (
            "POST",
            "/service-areas/siting",
            {"json": {"new_sites": 1, "candidates": [{"lon": 200, "lat": 30, "label": "x"}]}},
            "lon",
        ),
        (
            "POST",
            "/service-areas/siting",
            {"json": {"new_sites": 1, "kind": "tower"}},
            "tower",
        ),
    ],
)
def test_bad_input_is_a_422_naming_it(
    client: TestClient, method: str, path: str, kwargs: dict[str, Any], named: str
) -> None:
    response = client.request(method, path, **kwargs)
    assert response.status_code == 422, response.text
    assert named in response.json()["detail"]
