"""The hotspot map renders offline in Chromium: units, heatmap canvas, legend, layer control."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely
from playwright.sync_api import Page
from sqlalchemy import Engine

from gis.analysis.hotspots import find_hotspots, report_heat_points
from gis.city import demo_manifest
from maps import assets
from maps.hotspots import BIN_COLOURS, DENSITY_GRADIENT, DENSITY_LAYER, hotspot_map
from tests.browser import load_page
from tests.conftest import CATEGORIES

pytestmark = pytest.mark.browser


def test_demo_hotspot_map_renders_offline_with_clusters_hot(
    shared_demo_engine: Engine, tmp_path: Path
) -> None:
    with shared_demo_engine.connect() as conn:
        result = find_hotspots(conn, categories=CATEGORIES, unit="hex")
        heat = report_heat_points(conn, categories=CATEGORIES)
    fmap = hotspot_map(result, heat_points=heat)
    html = assets.render(fmap, mode="standalone")
    path = tmp_path / "hotspots.html"
    path.write_text(html, encoding="utf-8")
    before: list[int] = []

    def show_density(page: Page) -> None:
        # Off by default; turned on from the layer control as a person would.
        before.append(page.locator("canvas.leaflet-heatmap-layer").count())
        page.locator(".leaflet-control-layers").get_by_text(DENSITY_LAYER).click()
        page.wait_for_timeout(500)

    report = load_page(
        path.as_uri(),
        screenshot=Path("/tmp/bench5/hotspots.png"),
        wait_ms=1500,
        actions=show_density,
    )
    assert report.errors == []
    assert report.blocked == []
    assert report.counts["paths"] == len(result.units)
    assert before == [0]
    assert report.counts["canvases"] >= 1  # the heatmap, once turned on
    # Its ramp is its own: none of the Gi* bins' colours, and Leaflet.heat's blue is replaced.
    assert not set(DENSITY_GRADIENT.values()) & set(BIN_COLOURS.values())
    assert all(colour in html for colour in DENSITY_GRADIENT.values())
    assert report.counts["legend"] == 1
    assert report.counts["controls"] == 1
    # The units drawn at the planted clusters are in the hot colour.
    for cluster in demo_manifest()["report_history"]["clusters"]:
        centre = shapely.Point(cluster["lon"], cluster["lat"])
        unit = next(
            u for u in result.units if shapely.geometry.shape(u.geometry).intersects(centre)
        )
        assert unit.bin >= 2
        assert BIN_COLOURS[unit.bin] in html


def test_big_history_is_aggregated_for_the_heatmap(shared_demo_engine: Engine) -> None:
    with shared_demo_engine.connect() as conn:
        points = report_heat_points(conn, categories=CATEGORIES, max_points=2_000)
    assert 0 < len(points) <= 2_500
    assert sum(w for _, _, w in points) == demo_manifest()["report_history"]["reports"]


def test_served_hotspot_map_draws_borders_from_tiles(demo_server: str) -> None:
    report = load_page(
        f"{demo_server}/maps/hotspots?unit=grid&permutations=99",
        wait_until="networkidle",
        wait_ms=1500,
    )
    assert report.errors == [] and report.blocked == []
    assert report.vector["districts"]["features"] >= 3
    assert report.vector["communities"]["features"] >= demo_manifest()["counts"]["communities"]
    # Every grid is a unit, drawn once (inline: the analysis is computed per request).
    assert report.counts["paths"] >= demo_manifest()["counts"]["grids"]
    assert report.counts["legend"] == 1 and report.counts["controls"] == 1
