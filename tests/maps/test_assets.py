"""Map pages carry no CDN reference and render offline in Chromium, served or standalone."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import folium
import pytest
from fastapi.testclient import TestClient
from folium.plugins import HeatMap, MarkerCluster
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.main import create_app
from cli.main import app
from maps import assets
from maps.assets import ROOTS
from maps.base import base_map
from tests.browser import load_page
from tests.conftest import settings_for
from tests.maps.conftest import serve

pytestmark = pytest.mark.browser


def _sample_map() -> folium.Map:
    fmap = base_map(bounds=(104.0, 30.6, 104.1, 30.7), tile_url="", attribution="", title="样例")
    folium.GeoJson(
        {
            "type": "Feature",
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [[104.01, 30.61], [104.05, 30.61], [104.05, 30.65], [104.01, 30.61]]
                ],
            },
            "properties": {"name": "x"},
        },
        name="polygon",
    ).add_to(fmap)
    cluster = MarkerCluster(name="markers").add_to(fmap)  # type: ignore[no-untyped-call]
    folium.Marker([30.65, 104.05], icon=folium.Icon(color="red", icon="info-sign")).add_to(cluster)
    heat = [[30.65, 104.05, 1.0], [30.66, 104.06, 2.0]]
    HeatMap(heat, name="heat").add_to(fmap)  # type: ignore[no-untyped-call]
    folium.LayerControl().add_to(fmap)
    return fmap


def test_every_cdn_reference_is_rewritten() -> None:
    html = assets.render(_sample_map(), mode="served")
    assert "cdn" not in html and "https://" not in html.split("<body>")[0]
    assert "/static/vendor/leaflet/dist/leaflet.js" in html


def test_unknown_cdn_asset_is_refused() -> None:
    html = '<script src="https://example.invalid/x.js"></script>'
    with pytest.raises(assets.UnknownAsset, match="example.invalid"):
        assets.localize_html(html, mode="served")


def test_standalone_page_renders_offline(tmp_path: Path) -> None:
    path = assets.write(_sample_map(), tmp_path / "map.html")
    report = load_page(path.as_uri(), screenshot=tmp_path / "map.png")
    assert report.errors == []
    assert report.blocked == []
    assert report.counts["leaflet"]
    assert report.counts["paths"] >= 1
    assert report.counts["markers"] >= 1


@pytest.fixture
def live_server(empty_engine: Engine) -> Iterator[str]:
    with serve(create_app(settings_for(empty_engine), engine=empty_engine)) as url:
        yield url


def test_served_page_loads_assets_from_gridpatrol(live_server: str, tmp_path: Path) -> None:
    page = tmp_path / "served.html"
    html = assets.render(_sample_map(), mode="served", static_url=f"{live_server}/static")
    page.write_text(html, encoding="utf-8")
    report = load_page(page.as_uri())
    assert report.errors == []
    assert report.blocked == []
    assert report.counts["paths"] >= 1


@pytest.fixture
def assets_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """As on a machine where ``python -m maps.assets install`` never ran."""
    monkeypatch.setitem(ROOTS, "vendor", tmp_path / "node_modules")


FIX = ("scripts/setup.sh", "python -m maps.assets install")


@pytest.mark.usefixtures("assets_missing")
@pytest.mark.parametrize("page", ["/maps/grids", "/maps/coverage", "/maps/hotspots"])
def test_a_page_without_assets_is_503_naming_the_fix(shared_demo_engine: Engine, page: str) -> None:
    app = create_app(settings_for(shared_demo_engine), engine=shared_demo_engine)
    with TestClient(app) as client:
        response = client.get(page, params={"unit": "grid"} if "hotspots" in page else {})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    assert all(fix in response.json()["detail"] for fix in FIX)


@pytest.mark.usefixtures("assets_missing")
def test_the_cli_says_how_to_install_the_assets(
    shared_demo_engine: Engine, use_database: Callable[[Engine], None], tmp_path: Path
) -> None:
    use_database(shared_demo_engine)
    out = tmp_path / "coverage.html"
    result = CliRunner().invoke(app, ["map", "coverage", "-o", str(out)])
    assert result.exit_code == 1
    assert all(fix in " ".join(result.output.split()) for fix in FIX)
    assert "Traceback" not in result.output and result.exception is not None
    assert isinstance(result.exception, SystemExit)
    assert not out.exists()
