"""A hand-built town in metres (UTM 48N) with known problems, stored through SQL.

Every polygon is drawn in EPSG:32648 so the expected areas come from plain shapely on the
metric shapes, independent of PostGIS; the town is stored in EPSG:4326 like any import.

    y
    800 ┌──── C: one bow-tie grid ─┐
        │                          │
    400 ├─ A: G1 | G2 (gap) ───────┼─ B: H1 ∩ H2 overlap, straddles D1|D2 at x=1000 ─┐
      0 └──────────────────────────┴──────────────────────────────────────────────────┘
        0        300              600                1000                           1400
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import Polygon, box
from sqlalchemy import Engine, text

from gis.territory.assignment import assign_buildings

METRIC_CRS = "EPSG:32648"
X0, Y0 = 400_000.0, 3_390_000.0  # near 104°E 30.6°N
_TO_WGS84 = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)

D1, D2 = "990101", "990102"
A, B, C = "990101001001", "990101001002", "990101001003"
G1, G2 = A + "001", A + "002"
H1, H2 = B + "001", B + "002"
BOWTIE = C + "001"

GAP_TRIANGLE = Polygon([(400, 0), (500, 0), (450, 50)])
GEOMS: dict[str, Any] = {
    D1: box(0, 0, 1000, 1000),
    D2: box(1000, 0, 2000, 1000),
    A: box(0, 0, 600, 400),
    B: box(600, 0, 1400, 400),
    C: box(0, 400, 600, 800),
    G1: box(0, 0, 300, 400),
    G2: box(300, 0, 600, 400).difference(GAP_TRIANGLE),
    H1: box(600, 0, 1020, 400),
    H2: box(1000, 0, 1400, 400),
    # Self-intersecting at (300, 600): invalid, "Self-intersection".
    # Its vertical edges carry C's 20 m vertices so that only the crossing is wrong.
    BOWTIE: Polygon(
        [(0, 400), (600, 800)]
        + [(600, y) for y in range(780, 399, -20)]
        + [(0, 800)]
        + [(0, y) for y in range(780, 399, -20)]
    ),
}
BUILDINGS: dict[str, tuple[Any, int]] = {
    "SPLIT": (box(280, 200, 320, 240), 40),  # half in G1, half in G2
    "INSIDE": (box(100, 100, 140, 140), 10),
    "NOWHERE": (box(1500, 600, 1540, 640), 5),  # in no community, no grid
    "ENCLAVE": (box(1200, 100, 1240, 140), 30),  # B's part in D2
}


def metric(code: str) -> Any:
    """The metric shape of ``code`` (a town code or a building code)."""
    return GEOMS[code] if code in GEOMS else BUILDINGS[code][0]


def to_wgs84(geom: Any) -> Any:
    def project(coords: Any) -> Any:
        lon, lat = _TO_WGS84.transform(coords[:, 0] + X0, coords[:, 1] + Y0)
        return np.column_stack([lon, lat])

    return shapely.transform(geom, project)


def _wkt(geom: Any) -> str:
    # Every town coordinate is a multiple of 20 m: densified at 20 m, neighbours share their
    # vertices exactly after projection, as in real data (no invalid shape: segmentize
    # would rebuild it).
    dense = shapely.segmentize(geom, 20.0) if geom.is_valid else geom
    return str(shapely.to_wkt(to_wgs84(dense), rounding_precision=10))


def build_town(engine: Engine) -> None:
    """Store the town in ``engine``'s (empty) database and assign its buildings."""
    geom = "ST_Multi(ST_GeomFromText(:wkt, 4326))"
    with engine.begin() as conn:
        for code in (D1, D2):
            conn.execute(
                text(f"INSERT INTO districts VALUES (:code, :name, {geom})"),
                {"code": code, "name": f"区{code}", "wkt": _wkt(GEOMS[code])},
            )
            conn.execute(
                text(f"INSERT INTO subdistricts VALUES (:code, :parent, :name, {geom})"),
                {"code": code + "001", "parent": code, "name": "街道", "wkt": _wkt(GEOMS[code])},
            )
        for code in (A, B, C):
            conn.execute(
                text(f"INSERT INTO communities VALUES (:code, :parent, :name, {geom})"),
                {
                    "code": code,
                    "parent": code[:9],
                    "name": f"社区{code[-1]}",
                    "wkt": _wkt(GEOMS[code]),
                },
            )
        for code in (G1, G2, H1, H2, BOWTIE):
            conn.execute(
                text(f"INSERT INTO grids VALUES (:code, :parent, :name, {geom})"),
                {
                    "code": code,
                    "parent": code[:12],
                    "name": f"网格{code[-4:]}",
                    "wkt": _wkt(GEOMS[code]),
                },
            )
        for code, (shape, residents) in BUILDINGS.items():
            conn.execute(
                text(
                    "INSERT INTO buildings (code, residents, geom) "
                    f"VALUES (:code, :residents, {geom})"
                ),
                {"code": code, "residents": residents, "wkt": _wkt(shape)},
            )
        assign_buildings(conn)
