"""``GET /analytics/hotspots`` and ``/maps/hotspots`` on the demo city; bad parameters → 422."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import create_app
from tests.conftest import settings_for


@pytest.fixture(scope="module")
def client(shared_demo_engine: Engine) -> TestClient:
    app = create_app(settings_for(shared_demo_engine), engine=shared_demo_engine)
    with TestClient(app) as test_client:
        yield test_client  # type: ignore[misc]


def test_hotspots_are_a_feature_collection_with_bins(client: TestClient) -> None:
    response = client.get(
        "/analytics/hotspots",
        params={"unit": "grid", "category": "sanitation,parking", "since": "2025-03-01"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert len(body["features"]) == 68
    props = body["features"][0]["properties"]
    assert set(props) >= {"count", "z", "p", "p_fdr", "bin"}
    assert body["analysis"]["categories"] == ["parking", "sanitation"]
    assert body["analysis"]["since"].startswith("2025-03-01T00:00:00")
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
