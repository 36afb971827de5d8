"""The grids map: built from the domain data, served and written, drawn offline in Chromium."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from playwright.sync_api import Page
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cli.main import app
from gis.city import demo_manifest
from gis.territory.map_data import grid_map_data
from maps.legend import CATEGORY_COLOURS, colour_for
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


MAP_VAR = "window[Object.keys(window).find(k => k.startsWith('map_'))]"


def _hover_centre(page: Page) -> None:
    page.mouse.move(640, 430)
    page.mouse.move(642, 431)
    page.wait_for_timeout(300)


@pytest.mark.browser
def test_served_grids_map_draws_every_layer_from_tiles_offline(
    demo_server: str, shared_demo_engine: Engine, tmp_path: Path
) -> None:
    zoom: list[int] = []
    report = load_page(
        f"{demo_server}/maps/grids",
        screenshot=tmp_path / "grids.png",
        wait_until="networkidle",
        actions=lambda page: zoom.append(page.evaluate(f"() => {MAP_VAR}.getZoom()")),
        count={"labels": "text.gp-label", "status": ".gp-status:has-text('topology problem')"},
    )
    assert report.errors == [] and report.blocked == []
    assert all(status in (200, 204) for status, _ in report.responses)
    tiles = [url for _, url in report.responses if url.endswith(".mvt")]
    assert {url.split("/tiles/")[1].split("/")[0] for url in tiles} >= {
        "districts", "communities", "grids", "buildings", "open_reports"
    }  # fmt: skip
    # The whole demo city is in the first view (zoom 15): every feature drawn at least once.
    assert zoom == [15]
    drawn = report.vector
    assert drawn["grids"]["features"] >= GRIDS and drawn["grids"]["labels"] >= GRIDS
    assert drawn["communities"]["features"] >= COMMUNITIES
    assert drawn["districts"]["features"] >= 3
    assert drawn["buildings"]["features"] >= demo_manifest()["counts"]["buildings"]
    # districts + communities + grids + buildings + problem shapes, one SVG path (per tile)
    assert report.counts["paths"] >= 3 + COMMUNITIES + GRIDS + 3000
    assert report.counts["labels"] >= GRIDS
    assert report.counts["controls"] == 1 and report.counts["legend"] == 1
    assert report.counts["status"] == 1  # the problems arrived after the tiles


@pytest.mark.browser
def test_grid_tooltip_names_the_grid_under_the_pointer(
    demo_server: str, shared_demo_engine: Engine
) -> None:
    centre: dict[str, float] = {}

    def hide_buildings_and_hover(page: Page) -> None:
        page.locator(".leaflet-control-layers-overlays label:has-text('楼栋') input").uncheck()
        _hover_centre(page)
        centre.update(page.evaluate(f"() => {MAP_VAR}.containerPointToLatLng([642, 431])"))

    report = load_page(
        f"{demo_server}/maps/grids?problems=false&reports=false",
        wait_until="networkidle",
        actions=hide_buildings_and_hover,
    )
    assert report.errors == []
    with shared_demo_engine.connect() as conn:
        grids = gpd.read_postgis("SELECT code, geom FROM grids", conn, geom_col="geom")
        rows = conn.execute(text("SELECT grid_code, count(*) FROM buildings GROUP BY 1")).all()
        per_grid = {str(code): int(n) for code, n in rows}
    under = grids[grids.contains(shapely.Point(centre["lng"], centre["lat"]))]
    assert len(under) == 1
    code = under.iloc[0]["code"]
    assert any(code in tip and str(per_grid[code]) in tip for tip in report.tooltips), (
        report.tooltips
    )


@pytest.mark.browser
def test_grid_colours_match_the_python_palette(demo_server: str) -> None:
    codes = ["990101001001001", "990101001001002", "990102003004005", "B-000123", ""]
    got: list[str] = []
    load_page(
        f"{demo_server}/maps/grids?problems=false&reports=false",
        actions=lambda page: got.extend(
            page.evaluate(
                "codes => codes.map(c => gridpatrolVector.colourFor(c, "
                f"{list(CATEGORY_COLOURS)!r}))",
                codes,
            )
        ),
    )
    assert got == [colour_for(code) for code in codes]


@pytest.mark.browser
def test_grids_map_shows_the_open_reports(demo_server: str) -> None:
    report = load_page(
        f"{demo_server}/maps/grids",
        wait_until="networkidle",
        count={
            "report_markers": "path.report",
            "overdue": "path.report-overdue",
            "reports_toggle": ".leaflet-control-layers-overlays label:has-text('Open reports')",
        },
    )
    assert report.errors == [] and report.blocked == []
    assert report.counts["report_markers"] > 0
    assert report.counts["reports_toggle"] == 1
    assert report.vector["open_reports"]["features"] >= report.counts["report_markers"] > 0


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


@pytest.mark.browser
def test_written_page_with_server_loads_tiles_from_it(
    demo_server: str,
    shared_demo_engine: Engine,
    use_database: Callable[[Engine], None],
    tmp_path: Path,
) -> None:
    use_database(shared_demo_engine)
    inline, tiled = tmp_path / "inline.html", tmp_path / "tiled.html"
    runner = CliRunner()
    assert runner.invoke(app, ["map", "grids", "-o", str(inline)]).exit_code == 0
    result = runner.invoke(app, ["map", "grids", "-o", str(tiled), "--server", demo_server])
    assert result.exit_code == 0, result.output
    # The tiled page carries no features but the few topology problems.
    assert inline.read_text().count('"coordinates"') > GRIDS + 3000
    assert tiled.read_text().count('"coordinates"') < 20
    report = load_page(tiled.as_uri(), wait_until="networkidle")
    assert report.errors == [] and report.blocked == []
    assert any(url.startswith(f"{demo_server}/tiles/grids/") for _, url in report.responses)
    assert report.vector["grids"]["features"] >= GRIDS
    assert report.vector["buildings"]["features"] >= demo_manifest()["counts"]["buildings"]
    inline_report = load_page(inline.as_uri(), wait_until="networkidle")
    assert inline_report.errors == []
    assert inline_report.vector["grids"]["features"] >= GRIDS


def test_written_page_refuses_a_server_that_is_no_url(
    shared_demo_engine: Engine, use_database: Callable[[Engine], None], tmp_path: Path
) -> None:
    use_database(shared_demo_engine)
    result = CliRunner().invoke(
        app, ["map", "grids", "-o", str(tmp_path / "x.html"), "--server", "localhost:8000"]
    )
    assert result.exit_code == 2 and "--server" in result.output
    assert not (tmp_path / "x.html").exists()


def test_problems_overlay_lists_every_finding(demo_server: str, shared_demo_engine: Engine) -> None:
    import httpx2

    from api.schemas.tiles import ProblemFeatures
    from gis.territory.topology import validate_topology
    from tests.conftest import THRESHOLDS

    response = httpx2.get(f"{demo_server}/maps/grids/problems", timeout=60)
    assert response.status_code == 200
    overlay = ProblemFeatures.model_validate(response.json())
    with shared_demo_engine.connect() as conn:
        report = validate_topology(conn, **THRESHOLDS)
    expected = (
        len(report.gaps) + len(report.slivers) + len(report.overlaps)
        + len(report.outside_community) + len(report.unassigned_buildings)
        + len(report.split_buildings)
        + sum(1 for bad in report.invalid_geometries if bad.location)
    )  # fmt: skip
    assert len(overlay.features) == expected > 0
    assert overlay.summary.startswith(f"{report.problem_count} topology problem(s)")


def test_problems_overlay_is_recomputed_when_a_layer_changes(demo_engine: Engine) -> None:
    from maps.pages import grid_problems
    from tests.conftest import settings_for

    settings = settings_for(demo_engine)
    with demo_engine.connect() as conn:
        first = grid_problems(conn, settings)
        assert grid_problems(conn, settings) is first  # unchanged layers: kept
    lost = [f for f in first["features"] if "in no grid" in f["properties"]["label"]]
    assert len(lost) == 1
    code = lost[0]["properties"]["label"].split()[2]
    with demo_engine.begin() as conn:
        conn.execute(text("DELETE FROM buildings WHERE code = :code"), {"code": code})
    with demo_engine.connect() as conn:
        after = grid_problems(conn, settings)
    assert not any("in no grid" in f["properties"]["label"] for f in after["features"])
    assert len(after["features"]) == len(first["features"]) - 1


def test_problems_overlay_follows_the_street_network_and_stations(demo_engine: Engine) -> None:
    """The overlay counts what the streets do not reach: moving a service station away from
    every street (the facilities layer changes) must show in its summary, not a cached one."""
    from gis.territory.topology import validate_topology
    from maps.pages import grid_problems
    from tests.conftest import settings_for

    settings = settings_for(demo_engine)
    with demo_engine.connect() as conn:
        before = grid_problems(conn, settings)
    with demo_engine.begin() as conn:
        # 0.1° east of the demo city: 10 km from any street.
        conn.execute(
            text(
                "UPDATE facilities SET geom = ST_Translate(geom, 0.1, 0) WHERE code = 'FAC-000001'"
            )
        )
    with demo_engine.connect() as conn:
        after = grid_problems(conn, settings)
        report = validate_topology(
            conn, sliver_area_m2=settings.sliver_area_m2, split_share=settings.split_share
        )
    assert report.network is not None
    assert report.network.unreachable_service_stations == ["FAC-000001"]
    assert after["summary"].startswith(f"{report.problem_count} topology problem(s)")
    assert after["summary"] != before["summary"]
