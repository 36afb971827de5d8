"""``GET /analytics/hotspots`` and ``/maps/hotspots`` on the demo city; bad parameters → 422."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import create_app
from tests.conftest import demo_iso, settings_for

SINCE = demo_iso("2025-03-01T00:00:00+08:00")  # a day of the demo history, as loaded


@pytest.fixture(scope="module")
def client(shared_demo_engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings_for(shared_demo_engine), engine=shared_demo_engine)
    with TestClient(app) as test_client:
        yield test_client


def test_hotspots_are_a_feature_collection_with_bins(client: TestClient) -> None:
    response = client.get(
        "/analytics/hotspots",
        params={"unit": "grid", "category": "sanitation,parking", "since": SINCE},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert len(body["features"]) == 68
    props = body["features"][0]["properties"]
    assert set(props) >= {"count", "z", "p", "p_fdr", "bin"}
    assert body["analysis"]["categories"] == ["parking", "sanitation"]
    assert datetime.fromisoformat(body["analysis"]["since"]) == datetime.fromisoformat(SINCE)
    assert body["analysis"]["neighbours"] == "queen contiguity"


def test_hex_hotspots_default_size_and_band(client: TestClient) -> None:
    body = client.get("/analytics/hotspots", params={"unit": "hex", "size_m": 200}).json()
    assert body["analysis"]["size_m"] == 200
    assert body["analysis"]["metric_crs"] == "EPSG:32648"
    assert any(f["properties"]["bin"] == 3 for f in body["features"])


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"category": "graffiti"}, "category"),
        ({"since": "2025-06-01", "until": "2025-01-01"}, "since"),
        ({"unit": "hex", "size_m": "0"}, "size_m"),
        ({"unit": "hex", "size_m": "-100"}, "size_m"),
        ({"unit": "square"}, "unit"),
        ({"since": "last tuesday"}, "since"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(
    client: TestClient, params: dict[str, str], parameter: str
) -> None:
    response = client.get("/analytics/hotspots", params=params)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(parameter)


def test_an_empty_window_is_a_clear_422(client: TestClient) -> None:
    response = client.get("/analytics/hotspots", params={"since": "2030-01-01"})
    assert response.status_code == 422
    assert "no reports" in response.json()["detail"]


def test_hotspot_map_page_is_served_offline(client: TestClient) -> None:
    response = client.get("/maps/hotspots", params={"category": "parking"})
    assert response.status_code == 200
    html = response.text
    assert "/static/folium/leaflet_heat.min.js" in html
    assert "gp-legend" in html and "parking" in html
    assert "cdn.jsdelivr" not in html


def test_a_configured_category_is_one_hotspots_accept(city_engine: Engine, tmp_path: Path) -> None:
    """The categories file the settings name is the one every path uses (GET /categories,
    intake, hotspots), not a second one read elsewhere."""
    custom = tmp_path / "categories.toml"
    custom.write_text(
        '[categories.graffiti]\nname = "Graffiti"\narrival_minutes = 30\n'
        "resolution_minutes = 2880\n",
        encoding="utf-8",
    )
    settings = settings_for(city_engine, categories_file=custom)
    with TestClient(create_app(settings, engine=city_engine)) as client:
        assert [c["code"] for c in client.get("/categories").json()] == ["graffiti"]
        for k in range(5):
            report = {"lat": 30.66, "lon": 104.05 + k * 0.003, "category": "graffiti"}
            posted = client.post("/reports", json=report | {"description": "tag on a wall"})
            assert posted.status_code == 201, posted.text
        found = client.get(
            "/analytics/hotspots",
            params={"category": "graffiti", "unit": "grid", "permutations": 99},
        )
        assert found.status_code == 200, found.text
        assert found.json()["analysis"]["reports"] == 5
        # The bundled categories are not this server's.
        parking = client.get("/analytics/hotspots", params={"category": "parking"})
        assert parking.status_code == 422 and "graffiti" in parking.json()["detail"]
