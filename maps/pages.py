"""Map pages from the database: each gathers its data with the ``gis`` domain functions and
hands it to a pure builder. The API serves them (``/maps/…``) and the CLI writes them
(``gridpatrol map …``), so both show the same map."""

from __future__ import annotations

from typing import Any

import folium
from sqlalchemy import Connection

from gis.analysis.hotspots import find_hotspots, report_heat_points
from gis.core.settings import Settings
from gis.reports.categories import Category
from gis.reports.listing import open_reports_geojson
from gis.territory.coverage import find_cross_district_coverage
from gis.territory.layers import BBox
from gis.territory.map_data import DEFAULT_BUILDING_LIMIT, admin_layers, grid_map_data, map_bounds
from gis.territory.topology import validate_topology
from maps.coverage import build_coverage_map
from maps.grids import build_grid_map
from maps.hotspots import hotspot_map

# Open reports drawn on the grids map at most (clustered markers).
OPEN_REPORT_LIMIT = 5000


def grids_page(
    conn: Connection,
    settings: Settings,
    *,
    bbox: BBox | None = None,
    building_limit: int = DEFAULT_BUILDING_LIMIT,
    problems: bool = True,
    reports: bool = True,
) -> folium.Map:
    """The grids map: topology problems highlighted and open reports clustered, unless off."""
    data = grid_map_data(conn, bbox=bbox, building_limit=building_limit)
    report = (
        validate_topology(
            conn, sliver_area_m2=settings.sliver_area_m2, split_share=settings.split_share
        )
        if problems
        else None
    )
    return build_grid_map(
        data,
        report=report,
        open_reports=(
            open_reports_geojson(conn, bbox=bbox, limit=OPEN_REPORT_LIMIT) if reports else None
        ),
        tile_url=settings.tile_url,
        attribution=settings.tile_attribution,
    )


def coverage_page(conn: Connection, settings: Settings) -> folium.Map:
    """The cross-district coverage map of the whole city."""
    districts, communities = admin_layers(conn)
    return build_coverage_map(
        find_cross_district_coverage(conn),
        districts=districts,
        communities=communities,
        bounds=map_bounds(conn, None),
        tile_url=settings.tile_url,
        attribution=settings.tile_attribution,
    )


def hotspots_page(
    conn: Connection, settings: Settings, *, categories: dict[str, Category], **options: Any
) -> folium.Map:
    """Hot and cold spots by Gi* bin with a heatmap of the same reports; ``categories`` and
    ``options`` are :func:`gis.analysis.hotspots.find_hotspots`'s."""
    result = find_hotspots(conn, categories=categories, **options)
    heat = report_heat_points(
        conn,
        categories=categories,
        category_codes=result.categories,
        since=result.since,
        until=result.until,
    )
    return hotspot_map(
        result, heat_points=heat, tile_url=settings.tile_url, attribution=settings.tile_attribution
    )
