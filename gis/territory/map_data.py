"""Data for the map pages, sized so a whole city still gives a page that opens.

Polygons come back as GeoJSON FeatureCollections built by PostGIS. City-wide (no bbox) the
grids are simplified with ``ST_SimplifyPreserveTopology`` and buildings are only sent when
few; with a bbox, grids keep full detail and up to ``building_limit`` buildings in the box are
sent. A dispatcher zooms by passing a bbox (``/maps/grids?bbox=…``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from gis.core.errors import InvalidInput
from gis.territory.layers import BBox, bbox_filter

FeatureCollection = dict[str, Any]
DEFAULT_BUILDING_LIMIT = 5000
# ~2 m at these latitudes: invisible at city zoom, and it drops the mesh's collinear vertices.
CITY_SIMPLIFY_DEG = 2e-5


@dataclass(frozen=True)
class GridMapData:
    """Layers of the grids map, in EPSG:4326; ``buildings_total`` counts those in view."""

    bounds: BBox | None
    districts: FeatureCollection
    communities: FeatureCollection
    grids: FeatureCollection
    buildings: FeatureCollection
    buildings_total: int
    simplified: bool


def _collection(conn: Connection, sql: str, params: dict[str, Any]) -> FeatureCollection:
    features = conn.execute(text(sql), params).scalars().all()
    return {"type": "FeatureCollection", "features": list(features)}


def _geom(alias: str, simplify: float) -> str:
    if simplify <= 0:
        return f"ST_AsGeoJSON({alias}.geom, 6)::json"
    return f"ST_AsGeoJSON(ST_SimplifyPreserveTopology({alias}.geom, {simplify}), 6)::json"


def _admin_sql(table: str, in_view: str, simplify: float) -> str:
    return f"""
        SELECT json_build_object('type', 'Feature', 'id', t.code,
               'geometry', {_geom("t", simplify)},
               'properties', json_build_object('code', t.code, 'name', t.name))
        FROM {table} t WHERE {in_view} ORDER BY t.code
    """


def map_bounds(conn: Connection, bbox: BBox | None) -> BBox | None:
    """``bbox`` itself, or the extent of all districts (``None`` for an empty database)."""
    if bbox is not None:
        return bbox
    row = conn.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(geom)::geometry AS e FROM districts) x"
        )
    ).one()
    return None if row[0] is None else (row[0], row[1], row[2], row[3])


def district_names(conn: Connection) -> dict[str, str]:
    """Name of each district by code (legends and colours; no geometry)."""
    rows = conn.execute(text("SELECT code, name FROM districts ORDER BY code")).all()
    return {str(code): str(name) for code, name in rows}


def _admin_layer(conn: Connection, table: str, bbox: BBox | None) -> FeatureCollection:
    simplify = CITY_SIMPLIFY_DEG if bbox is None else 0.0
    in_view, params = bbox_filter(bbox, column="t.geom")
    return _collection(conn, _admin_sql(table, in_view, simplify), params)


def district_layer(conn: Connection, *, bbox: BBox | None = None) -> FeatureCollection:
    """Districts in view (simplified when city-wide)."""
    return _admin_layer(conn, "districts", bbox)


def admin_layers(
    conn: Connection, *, bbox: BBox | None = None
) -> tuple[FeatureCollection, FeatureCollection]:
    """Districts and communities in view (simplified when city-wide)."""
    return district_layer(conn, bbox=bbox), _admin_layer(conn, "communities", bbox)


def grid_map_data(
    conn: Connection, *, bbox: BBox | None = None, building_limit: int = DEFAULT_BUILDING_LIMIT
) -> GridMapData:
    """Districts, communities, grids (with buildings and residents) and buildings in view."""
    if building_limit < 0:
        raise InvalidInput("building_limit must not be negative")
    grids_in_view, params = bbox_filter(bbox, column="g.geom")
    buildings_in_view, _ = bbox_filter(bbox, column="b.geom")
    simplify = CITY_SIMPLIFY_DEG if bbox is None else 0.0
    districts, communities = admin_layers(conn, bbox=bbox)
    # Counts come from the stored assignment (one grouped scan of the grid_code index).
    grids = _collection(
        conn,
        f"""
        WITH shown AS (SELECT g.* FROM grids g WHERE {grids_in_view}),
        people AS (
            SELECT b.grid_code, count(*) AS buildings, COALESCE(sum(b.residents), 0) AS residents
            FROM buildings b WHERE b.grid_code IN (SELECT code FROM shown) GROUP BY b.grid_code
        )
        SELECT json_build_object('type', 'Feature', 'id', s.code,
               'geometry', {_geom("s", simplify)},
               'properties', json_build_object(
                   'code', s.code, 'name', s.name, 'community_code', s.community_code,
                   'buildings', COALESCE(p.buildings, 0), 'residents', COALESCE(p.residents, 0)))
        FROM shown s LEFT JOIN people p ON p.grid_code = s.code ORDER BY s.code
        """,
        params,
    )
    total = int(
        conn.execute(
            text(f"SELECT count(*) FROM buildings b WHERE {buildings_in_view}"), params
        ).scalar_one()
    )
    buildings: FeatureCollection = {"type": "FeatureCollection", "features": []}
    # City-wide, a million footprints cannot go into one page: send them only when they fit.
    if bbox is not None or total <= building_limit:
        buildings = _collection(
            conn,
            f"""
            SELECT json_build_object('type', 'Feature', 'id', b.code,
                   'geometry', ST_AsGeoJSON(b.geom, 6)::json,
                   'properties', json_build_object('code', b.code, 'name', b.name,
                       'grid_code', b.grid_code, 'residents', b.residents,
                       'grid_share', round(b.grid_share::numeric, 3)))
            FROM buildings b WHERE {buildings_in_view} ORDER BY b.id LIMIT :limit
            """,
            params | {"limit": building_limit},
        )
    return GridMapData(
        bounds=map_bounds(conn, bbox),
        districts=districts,
        communities=communities,
        grids=grids,
        buildings=buildings,
        buildings_total=total,
        simplified=simplify > 0,
    )
