"""Map pages from the database: each gathers its data with the ``gis`` domain functions and
hands it to a pure builder. The API serves them (``/maps/…``) and the CLI writes them
(``gridpatrol map …``), so both show the same map."""

from __future__ import annotations

import json
from typing import Any

import folium
from sqlalchemy import Connection, text

from gis.analysis.hotspots import find_hotspots, report_heat_points
from gis.core.settings import Settings
from gis.reports.listing import open_reports_geojson
from gis.territory.coverage import find_cross_district_coverage
from gis.territory.layers import BBox
from gis.territory.map_data import (
    DEFAULT_BUILDING_LIMIT,
    admin_layers,
    district_names,
    grid_map_data,
    map_bounds,
)
from gis.territory.topology import validate_topology
from gis.tiles.versions import sources_token
from maps.coverage import build_coverage_map
from maps.grids import build_grid_map, problem_features
from maps.hotspots import hotspot_map
from maps.vector import TileSource

# Open reports drawn on the grids map at most (clustered markers).
OPEN_REPORT_LIMIT = 5000


# Validating a 10,000-grid city takes seconds: the overlay is kept until a layer it reads
# changes (per database, thresholds and versions of those layers).
_TOPOLOGY_SOURCES = ("districts", "communities", "grids", "buildings")
_problems_cache: dict[tuple[str, float, float], tuple[str, dict[str, Any]]] = {}


def grid_problems(conn: Connection, settings: Settings) -> dict[str, Any]:
    """The topology problems as the grids map draws them (split buildings outlined)."""
    key = (
        conn.engine.url.render_as_string(hide_password=True),
        settings.sliver_area_m2,
        settings.split_share,
    )
    token = sources_token(conn, _TOPOLOGY_SOURCES)
    cached = _problems_cache.get(key)
    if cached is not None and cached[0] == token:
        return cached[1]
    overlay = _grid_problems(conn, settings)
    _problems_cache[key] = (token, overlay)
    return overlay


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
) -> folium.Map:
    """The grids map: topology problems highlighted and open reports shown, unless off.

    With ``tiles`` the layers come as vector tiles from that server (the page holds no
    features), and with ``problems_url`` the problems are fetched after the map is drawn;
    otherwise everything is inside the page (grids simplified city-wide, buildings capped).
    """
    problem_source: dict[str, Any] | str | None = None
    if problems:
        problem_source = problems_url or grid_problems(conn, settings)
    if tiles is not None:
        return build_grid_map(
            tiles,
            bounds=map_bounds(conn, bbox),
            problems=problem_source,
            open_reports=tiles if reports else None,
            tile_url=settings.tile_url,
            attribution=settings.tile_attribution,
        )
    data = grid_map_data(conn, bbox=bbox, building_limit=building_limit)
    return build_grid_map(
        data,
        bounds=data.bounds,
        problems=problem_source,
        open_reports=(
            open_reports_geojson(conn, bbox=bbox, limit=OPEN_REPORT_LIMIT) if reports else None
        ),
        tile_url=settings.tile_url,
        attribution=settings.tile_attribution,
    )


def coverage_page(
    conn: Connection, settings: Settings, *, tiles: TileSource | None = None
) -> folium.Map:
    """The cross-district coverage map of the whole city (districts and communities as tiles
    from ``tiles``, or inline)."""
    return build_coverage_map(
        find_cross_district_coverage(conn),
        district_names=district_names(conn),
        source=tiles if tiles is not None else admin_layers(conn),
        bounds=map_bounds(conn, None),
        tile_url=settings.tile_url,
        attribution=settings.tile_attribution,
    )


def hotspots_page(
    conn: Connection, settings: Settings, *, tiles: TileSource | None = None, **options: Any
) -> folium.Map:
    """Hot and cold spots by Gi* bin with a heatmap of the same reports (and district and
    community borders as tiles from ``tiles``); ``options`` are
    :func:`gis.analysis.hotspots.find_hotspots`'s."""
    result = find_hotspots(conn, **options)
    heat = report_heat_points(
        conn, categories=result.categories, since=result.since, until=result.until
    )
    return hotspot_map(
        result,
        heat_points=heat,
        reference=tiles,
        tile_url=settings.tile_url,
        attribution=settings.tile_attribution,
    )
