"""Map pages from the database: each gathers its data with the ``gis`` domain functions and
hands it to a pure builder. The API serves them (``/maps/…``) and the CLI writes them
(``gridpatrol map …``), so both show the same map."""

from __future__ import annotations

from typing import Any

import folium
from sqlalchemy import Connection

from gis.analysis.hotspots import find_hotspots, report_heat_points
from gis.core.settings import Settings
from gis.core.timewindow import TimeWindow
from gis.patrols.coverage import coverage_by_grid
from gis.patrols.storage import get_plan
from gis.reports.categories import Category
from gis.reports.listing import open_reports_geojson
from gis.territory.coverage import find_cross_district_coverage
from gis.territory.layers import BBox
from gis.territory.map_data import DEFAULT_BUILDING_LIMIT, admin_layers, grid_map_data, map_bounds
from gis.territory.topology import validate_topology
from maps.coverage import build_coverage_map
from maps.grids import build_grid_map
from maps.hotspots import hotspot_map
from maps.patrols import add_patrol_coverage_layer, build_patrol_map

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
    patrol_coverage: bool = False,
    patrol_window: TimeWindow = TimeWindow(),  # noqa: B008 (frozen, so a shared default is safe)
) -> folium.Map:
    """The grids map: topology problems highlighted and open reports clustered, unless off;
    with ``patrol_coverage``, grids coloured by patrol staleness in the window too."""
    data = grid_map_data(conn, bbox=bbox, building_limit=building_limit)
    extra_layers = []
    if patrol_coverage:
        window, by_grid = coverage_by_grid(
            conn, since=patrol_window.since, until=patrol_window.until
        )
        label = f"{window.since:%Y-%m-%d %H:%M} – {window.until:%Y-%m-%d %H:%M}"
        extra_layers.append(
            lambda fmap: add_patrol_coverage_layer(fmap, data.grids, by_grid, window=label)
        )
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
        extra_layers=extra_layers,
    )


def patrols_page(conn: Connection, settings: Settings, *, plan_id: int) -> folium.Map:
    """A stored plan's routes, stops and unserved stops over the district borders; with a
    compared plan (either of the pair's ids), the other mode as a toggled layer."""
    plan = get_plan(conn, plan_id)
    other_id = (plan["alternative"] or {}).get("id") or plan["alternative_of"]
    alternative = get_plan(conn, other_id) if other_id is not None else None
    districts, _ = admin_layers(conn)
    return build_patrol_map(
        plan,
        alternative=alternative,
        districts=districts,
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
