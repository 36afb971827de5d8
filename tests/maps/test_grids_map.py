"""The grids map: built from the domain data, served and written, drawn offline in Chromium."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from cli.main import app
from gis.city import demo_manifest
from gis.territory.map_data import grid_map_data
from tests.browser import load_page

GRIDS = demo_manifest()["counts"]["grids"]
COMMUNITIES = demo_manifest()["counts"]["communities"]


def test_city_wide_data_is_simplified_and_buildings_capped(shared_demo_engine: Engine) -> None:
    with shared_demo_engine.connect() as conn:
        capped = grid_map_data(conn, building_limit=100)
        (minx, miny, maxx, maxy) = capped.bounds or (0.0, 0.0, 0.0, 0.0)
        box = (minx, miny, minx + (maxx - minx) / 4, miny + (maxy - miny) / 4)
        zoomed = grid_map_data(conn, bbox=box, building_limit=100)
    assert capped.simplified and capped.buildings["features"] == []
    assert capped.buildings_total == demo_manifest()["counts"]["buildings"]
    assert len(capped.grids["features"]) == GRIDS
    counted = sum(f["properties"]["buildings"] for f in capped.grids["features"])
    assert counted == capped.buildings_total - 1  # the one building in no grid
    assert not zoomed.simplified and len(zoomed.buildings["features"]) == 100
    assert 0 < len(zoomed.grids["features"]) < GRIDS


@pytest.mark.browser
def test_served_grids_map_draws_every_layer_offline(demo_server: str, tmp_path: Path) -> None:
    report = load_page(f"{demo_server}/maps/grids", screenshot=tmp_path / "grids.png")
    assert report.errors == [] and report.blocked == []
    # districts + communities + grids + buildings + problem shapes, one SVG path each
    assert report.counts["paths"] >= 3 + COMMUNITIES + GRIDS + 3000
    assert report.counts["markers"] >= GRIDS  # code labels
    assert report.counts["controls"] == 1 and report.counts["legend"] == 1


@pytest.mark.browser
def test_grids_map_shows_the_open_reports(demo_server: str) -> None:
    report = load_page(
        f"{demo_server}/maps/grids",
        count={
            "clusters": ".marker-cluster",
            "report_markers": "path.report",
            "reports_toggle": ".leaflet-control-layers-overlays label:has-text('Open reports')",
        },
    )
    assert report.errors == [] and report.blocked == []
    assert report.counts["clusters"] + report.counts["report_markers"] > 0
    assert report.counts["reports_toggle"] == 1


@pytest.mark.browser
def test_written_grids_map_opens_offline(
    shared_demo_engine: Engine, use_database: Callable[[Engine], None], tmp_path: Path
) -> None:
    use_database(shared_demo_engine)
    out = tmp_path / "grids.html"
    result = CliRunner().invoke(
        app, ["map", "grids", "-o", str(out), "--bbox", "104.0,30.6,104.07,30.67"]
    )
    assert result.exit_code == 0, result.output
    report = load_page(out.as_uri())
    assert report.errors == [] and report.blocked == []
    assert report.counts["paths"] > 100 and report.counts["legend"] == 1


def test_bad_bbox_is_a_422(demo_server: str) -> None:
    import httpx2

    response = httpx2.get(f"{demo_server}/maps/grids", params={"bbox": "1,2,3"})
    assert response.status_code == 422 and "bbox" in response.json()["detail"]
