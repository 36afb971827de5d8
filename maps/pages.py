"""Map pages from the database: each gathers its data with the ``gis`` domain functions and
hands it to a pure builder. The API serves them (``/maps/…``) and the CLI writes them
(``gridpatrol map …``), so both show the same map."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from typing import Any

import folium
from sqlalchemy import Connection, text

from gis.analysis.hotspots import find_hotspots, report_heat_points
from gis.core.settings import Settings
from gis.core.timewindow import TimeWindow
from gis.households.listing import overdue_buildings_geojson
from gis.patrols.coverage import CoverageSource, coverage_by_grid
from gis.patrols.storage import get_plan
from gis.reports.categories import Category
from gis.reports.listing import open_reports_geojson
from gis.territory.coverage import find_cross_district_coverage
from gis.territory.layers import BBox
from gis.territory.map_data import (
    DEFAULT_BUILDING_LIMIT,
    GridMapData,
    admin_layers,
    district_layer,
    district_names,
    grid_map_data,
    map_bounds,
)
from gis.territory.topology import VALIDATION_SOURCES, validate_topology
from gis.tiles.versions import VersionedCache
from maps.care import CARE_VISITS_PATH, add_care_visit_layer, care_visit_features
from maps.coverage import build_coverage_map
from maps.grids import build_grid_map, problem_features
from maps.hotspots import hotspot_map
from maps.patrols import add_patrol_coverage_layer, build_patrol_map
from maps.vector import TileSource

# Open reports drawn on the grids map at most (clustered markers).
OPEN_REPORT_LIMIT = 5000


# Validating a 10,000-grid city takes seconds: the overlay is kept until a layer it reads
# changes (per database, thresholds and versions of those layers).
_problems: VersionedCache[dict[str, Any]] = VersionedCache()


def grid_problems(conn: Connection, settings: Settings) -> dict[str, Any]:
    """The topology problems as the grids map draws them (split buildings outlined)."""
    return _problems.get(
        conn,
        sources=VALIDATION_SOURCES,
        key=(settings.sliver_area_m2, settings.split_share),
        compute=lambda: _grid_problems(conn, settings),
    )


def _grid_problems(conn: Connection, settings: Settings) -> dict[str, Any]:
    report = validate_topology(
        conn, sliver_area_m2=settings.sliver_area_m2, split_share=settings.split_share
    )
    codes = [b.code for b in report.split_buildings]
    rows = conn.execute(
        text("SELECT code, ST_AsGeoJSON(geom, 7) FROM buildings WHERE code = ANY(:codes)"),
        {"codes": codes},
    ).all()
    return problem_features(report, split_geometries={code: json.loads(g) for code, g in rows})


def care_visit_map(
    conn: Connection, settings: Settings, *, bbox: BBox | None = None
) -> dict[str, Any]:
    """The buildings with overdue care visits as the grids map draws them (counts only)."""
    return care_visit_features(
        overdue_buildings_geojson(conn, now=datetime.now(UTC), zone=settings.zone, bbox=bbox)
    )


def titled(fmap: folium.Map, what: str) -> folium.Map:
    """``fmap`` with the page title (``<title>``) saying what it shows."""
    # Branca writes the title unescaped, and a plan's name is anyone's text.
    fmap.get_root().title = html.escape(f"{what} · gridpatrol")  # type: ignore[attr-defined]
    return fmap


def grids_page(
    conn: Connection,
    settings: Settings,
    *,
    bbox: BBox | None = None,
    building_limit: int = DEFAULT_BUILDING_LIMIT,
    problems: bool = True,
    reports: bool = True,
    tiles: TileSource | None = None,
    problems_url: str | None = None,
    patrol_coverage: bool = False,
    patrol_window: TimeWindow = TimeWindow(),  # noqa: B008 (frozen, so a shared default is safe)
    patrol_source: CoverageSource = "walked",
    care_visits: bool = True,
) -> folium.Map:
    """The grids map: topology problems highlighted and open reports shown, unless off; with
    ``patrol_coverage``, grids coloured by patrol staleness in ``patrol_window`` too (of the
    tracks walked, or of the plans' routes with ``patrol_source="planned"``); with
    ``care_visits``, the buildings with overdue care visits (counts only, no names).

    With ``tiles`` the layers come as vector tiles from that server (the page holds no
    features), and with ``problems_url`` the problems are fetched after the map is drawn;
    otherwise everything is inside the page (grids simplified city-wide, buildings capped).
    """
    problem_source: dict[str, Any] | str | None = None
    if problems:
        problem_source = problems_url or grid_problems(conn, settings)
    data = (
        None if tiles is not None else grid_map_data(conn, bbox=bbox, building_limit=building_limit)
    )
    # Served pages draw from tiles; standalone files carry the data read here.
    source: TileSource | GridMapData | None = tiles if data is None else data
    assert source is not None, "tiles, or the data read without them"
    extra_layers = []
    if patrol_coverage:
        window, by_grid = coverage_by_grid(
            conn, since=patrol_window.since, until=patrol_window.until, source=patrol_source
        )
        # Shown to a person: in the configured zone, whatever zone the window was given in.
        since, until = (t.astimezone(settings.zone) for t in (window.since, window.until))
        label = (
            f"{patrol_source}, {since:%Y-%m-%d %H:%M} – {until:%Y-%m-%d %H:%M} "
            f"({settings.timezone})"
        )
        grids = source.grids if isinstance(source, GridMapData) else source
        extra_layers.append(
            lambda fmap: add_patrol_coverage_layer(fmap, grids, by_grid, window=label)
        )
    if care_visits:
        care: dict[str, Any] | str = (
            tiles.url(CARE_VISITS_PATH) if tiles is not None else care_visit_map(conn, settings)
        )
        extra_layers.append(lambda fmap: add_care_visit_layer(fmap, care))
    open_reports: TileSource | dict[str, Any] | None = None
    if reports:
        open_reports = (
            tiles
            if data is None
            else open_reports_geojson(conn, bbox=bbox, limit=OPEN_REPORT_LIMIT)
        )
    fmap = build_grid_map(
        source,
        bounds=map_bounds(conn, bbox) if data is None else data.bounds,
        problems=problem_source,
        open_reports=open_reports,
        tile_url=settings.tile_url,
        attribution=settings.tile_attribution,
        extra_layers=extra_layers,
    )
    what = "Patrol coverage by grid" if patrol_coverage else "Grids, buildings and open reports"
    return titled(fmap, what)


def patrols_page(conn: Connection, settings: Settings, *, plan_id: int) -> folium.Map:
    """A stored plan's routes, stops and unserved stops over the district borders; with a
    compared plan (either of the pair's ids), the other mode as a toggled layer."""
    plan = get_plan(conn, plan_id)
    other_id = plan.alternative.id if plan.alternative is not None else plan.alternative_of
    alternative = get_plan(conn, other_id) if other_id is not None else None
    fmap = build_patrol_map(
        plan.model_dump(mode="json"),
        alternative=None if alternative is None else alternative.model_dump(mode="json"),
        districts=district_layer(conn),
        tile_url=settings.tile_url,
        attribution=settings.tile_attribution,
    )
    return titled(fmap, f"Patrol plan {plan.id}: {plan.name}")


def coverage_page(
    conn: Connection, settings: Settings, *, tiles: TileSource | None = None
) -> folium.Map:
    """The cross-district coverage map of the whole city (districts and communities as tiles
    from ``tiles``, or inline)."""
    fmap = build_coverage_map(
        find_cross_district_coverage(conn),
        district_names=district_names(conn),
        source=tiles if tiles is not None else admin_layers(conn),
        bounds=map_bounds(conn, None),
        tile_url=settings.tile_url,
        attribution=settings.tile_attribution,
    )
    return titled(fmap, "Cross-district coverage")


def hotspots_page(
    conn: Connection,
    settings: Settings,
    *,
    categories: dict[str, Category],
    tiles: TileSource | None = None,
    **options: Any,
) -> folium.Map:
    """Hot and cold spots by Gi* bin with a heatmap of the same reports (and district and
    community borders as tiles from ``tiles``); ``categories`` and ``options`` are
    :func:`gis.analysis.hotspots.find_hotspots`'s."""
    result = find_hotspots(conn, categories=categories, **options)
    heat = report_heat_points(
        conn,
        categories=categories,
        category_codes=result.categories,
        since=result.since,
        until=result.until,
    )
    fmap = hotspot_map(
        result,
        heat_points=heat,
        reference=tiles,
        tile_url=settings.tile_url,
        attribution=settings.tile_attribution,
    )
    return titled(fmap, "Report hot and cold spots")
