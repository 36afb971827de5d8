"""A hand-made lattice city for analysis tests: one community of n × n square grids."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import geopandas as gpd
import shapely
from sqlalchemy import Engine, text

from gis.territory.importing import import_frame

ORIGIN = (104.0, 30.6)
CELL_DEG = 0.001  # about 96 m east-west, 111 m north-south here
DISTRICT, SUBDISTRICT, COMMUNITY = "990101", "990101001", "990101001001"


def grid_code(i: int, j: int, n: int) -> str:
    """Code of the grid in column ``i``, row ``j`` (0-based from the south-west)."""
    return f"{COMMUNITY}{j * n + i + 1:03d}"


def cell_centre(i: float, j: float) -> tuple[float, float]:
    """Lon/lat of the centre of cell (i, j)."""
    return ORIGIN[0] + (i + 0.5) * CELL_DEG, ORIGIN[1] + (j + 0.5) * CELL_DEG


def build_lattice(engine: Engine, n: int) -> None:
    """Import a district, sub-district and community covering ``n × n`` square grids."""
    cells = [
        shapely.box(
            ORIGIN[0] + i * CELL_DEG,
            ORIGIN[1] + j * CELL_DEG,
            ORIGIN[0] + (i + 1) * CELL_DEG,
            ORIGIN[1] + (j + 1) * CELL_DEG,
        )
        for j in range(n)
        for i in range(n)
    ]
    whole = shapely.box(ORIGIN[0], ORIGIN[1], ORIGIN[0] + n * CELL_DEG, ORIGIN[1] + n * CELL_DEG)
    with engine.begin() as conn:
        for layer, code in (
            ("districts", DISTRICT),
            ("subdistricts", SUBDISTRICT),
            ("communities", COMMUNITY),
        ):
            frame = gpd.GeoDataFrame({"code": [code], "name": [code]}, geometry=[whole], crs=4326)
            import_frame(conn, frame, layer=layer)
        grids = gpd.GeoDataFrame(
            {
                "code": [grid_code(k % n, k // n, n) for k in range(n * n)],
                "name": [f"grid {k}" for k in range(n * n)],
            },
            geometry=cells,
            crs=4326,
        )
        import_frame(conn, grids, layer="grids")


def add_reports(engine: Engine, points: Iterable[tuple[float, float, str, datetime]]) -> None:
    """Insert reports (lon, lat, category, reported_at), located in their grid by SQL."""
    rows = [
        {"lon": lon, "lat": lat, "category": category, "at": at}
        for lon, lat, category, at in points
    ]
    with engine.begin() as conn:
        conn.execute(
            text(
                """
                INSERT INTO reports (category, reported_at, located, grid_code, geom)
                SELECT :category, :at, true,
                       (SELECT code FROM grids g WHERE ST_Contains(g.geom, p.geom)
                        ORDER BY code LIMIT 1),
                       p.geom
                FROM (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geom) p
                """
            ),
            rows,
        )
