"""A hand-built street town in metres (UTM 48N), imported through the real import path.

Two districts side by side, split at x = 1000; each is one sub-district, community and grid::

    y
   1000 ┌─────────────── D1 ───────────────┬─────────────── D2 ───────────────┐
    955 │        ── fragment ──            │                                  │
    900 │  N200       N500       N900      │ N1100 ──── north link ──── N1800 │
    500 │ ═╪═══════════╧══════════╪════════╪═╪══════ main street ══════════╪═ │
    100 │  │                      │        │ │                            │   │
      0 └──────────────────────────────────┴──────────────────────────────────┘
        0   200        500       900      1000 1100                      1800  2000

- the main street y = 500 is two lines meeting at x = 1000; the north-south streets at x = 200,
  900, 1100 and 1800 run y = 100..900 and *cross* it mid-line without a shared vertex: drawn
  data, so the town is loaded with ``node_crossings`` (the ``--node-crossings`` opt-in);
- the street at x = 500 starts 0.4 m short of the main street (an undershoot, snapped);
- the north link y = 900 from x = 1100 to 1800 is two lines whose ends miss by 0.5 m at 1450;
- the street at x = 1800 is one-way (northbound) in the data, which walking ignores;
- a 100 m fragment at y = 955, x = 600..700 touches nothing: its own component.

Coordinates are offsets from (X0, Y0) in EPSG:32648 and are imported in that CRS; lengths the
tests expect are UTM metres turned into geodesic metres with pyproj's ``Geod`` (independent of
PostGIS).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import LineString, box
from sqlalchemy import Engine

from gis.territory.importing import import_frame

METRIC_CRS = "EPSG:32648"
X0, Y0 = 400_000.0, 3_390_000.0
D1, D2 = "990101", "990102"
COMMUNITY_1, COMMUNITY_2 = D1 + "001001", D2 + "001001"
GRID_1, GRID_2 = COMMUNITY_1 + "001", COMMUNITY_2 + "001"
_TO_WGS84 = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)
_TO_METRIC = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
_GEOD = Geod(ellps="WGS84")

STREETS: list[tuple[str, list[tuple[float, float]], bool]] = [
    ("main west", [(0, 500), (1000, 500)], False),
    ("main east", [(1000, 500), (2000, 500)], False),
    ("N200", [(200, 100), (200, 900)], False),
    ("N500", [(500, 500.4), (500, 900)], False),
    ("N900", [(900, 100), (900, 900)], False),
    ("N1100", [(1100, 100), (1100, 900)], False),
    ("N1800", [(1800, 100), (1800, 900)], True),
    ("north link west", [(1100, 900), (1450, 900)], False),
    ("north link east", [(1450.5, 900), (1800, 900)], False),
    ("fragment", [(600, 955), (700, 955)], False),
]


def lonlat(x: float, y: float) -> tuple[float, float]:
    """WGS 84 lon/lat of town point (x, y)."""
    lon, lat = _TO_WGS84.transform(x + X0, y + Y0)
    return float(lon), float(lat)


def to_metric(geom: Any) -> Any:
    """A lon/lat geometry in the town's UTM metres (offsets included)."""

    def project(coords: Any) -> Any:
        x, y = _TO_METRIC.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, project)


def geodesic_m(*points: tuple[float, float]) -> float:
    """Geodesic length (metres on WGS 84) of the polyline through town points."""
    lons, lats = zip(*(lonlat(x, y) for x, y in points), strict=True)
    return float(_GEOD.line_length(lons, lats))


def _frame(rows: dict[str, list[Any]], geoms: list[Any]) -> gpd.GeoDataFrame:
    shifted = [shapely.affinity.translate(g, X0, Y0) for g in geoms]
    return gpd.GeoDataFrame(rows, geometry=shifted, crs=METRIC_CRS)


def build_streets(engine: Engine, *, with_roads: bool = True) -> None:
    """Import the town's districts, hierarchy, grids and (unless told not to) its streets."""
    west, east = box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000)
    with engine.begin() as conn:
        import_frame(
            conn,
            _frame({"code": [D1, D2], "name": ["西区", "东区"]}, [west, east]),
            layer="districts",
        )
        import_frame(
            conn,
            _frame({"code": [D1 + "001", D2 + "001"], "name": ["西街道", "东街道"]}, [west, east]),
            layer="subdistricts",
        )
        import_frame(
            conn,
            _frame(
                {"code": [COMMUNITY_1, COMMUNITY_2], "name": ["西社区", "东社区"]}, [west, east]
            ),
            layer="communities",
        )
        import_frame(
            conn,
            _frame({"code": [GRID_1, GRID_2], "name": ["西网格", "东网格"]}, [west, east]),
            layer="grids",
        )
        if with_roads:
            import_frame(conn, streets_frame(), layer="roads", node_crossings=True)


def streets_frame() -> gpd.GeoDataFrame:
    """The streets as a GeoDataFrame in EPSG:32648 (what a user's roads file holds)."""
    return _frame(
        {
            "name": [name for name, _, _ in STREETS],
            "oneway": ["yes" if oneway else "no" for _, _, oneway in STREETS],
        },
        [LineString(coords) for _, coords, _ in STREETS],
    )
