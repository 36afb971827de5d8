"""Map pages from the database: each gathers its data with the ``gis`` domain functions and
hands it to a pure builder. The API serves them (``/maps/…``) and the CLI writes them
(``gridpatrol map …``), so both show the same map."""

from __future__ import annotations

import folium
from sqlalchemy import Connection

from gis.coverage import find_cross_district_coverage
from gis.layers import BBox
from gis.mapping import DEFAULT_BUILDING_LIMIT, admin_layers, grid_map_data, map_bounds
from gis.settings import Settings
from gis.topology import validate_topology
from maps.coverage import build_coverage_map
from maps.grids import build_grid_map


def grids_page(
    conn: Connection,
    settings: Settings,
    *,
    bbox: BBox | None = None,
    building_limit: int = DEFAULT_BUILDING_LIMIT,
    problems: bool = True,
) -> folium.Map:
    """The grids map, with topology problems highlighted unless ``problems`` is false."""
    data = grid_map_data(conn, bbox=bbox, building_limit=building_limit)
    report = (
        validate_topology(
            conn, sliver_area_m2=settings.sliver_area_m2, split_share=settings.split_share
        )
        if problems
        else None
    )
    return build_grid_map(
        data, report=report, tile_url=settings.tile_url, attribution=settings.tile_attribution
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
