"""Building → grid and facility → grid assignment, from location, in set-based SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

# A building belongs to the grid holding the largest share of its footprint. The share is a
# ratio of two areas of the same small footprint, so planar areas in EPSG:4326 give the same
# ratio as metric ones (the scale factor cancels) at a fraction of the cost of geography.
#
# Tuned on 10,000 grids x 1,000,000 buildings (bench/grid_mapping.py, bench/README.md):
# - grids drive the join (seq scan of 10k grids, GiST probe of buildings per grid), so each
#   grid geometry repeats over its ~100 buildings and PostGIS's prepared-geometry cache serves
#   ST_Intersects and ST_Covers with the grid as the *first* argument (ST_CoveredBy(b, g)
#   is not served by the cache: 3x slower);
# - ST_Covers is the fast path: only the few buildings on a grid border pay ST_Intersection;
# - the best grid per building is computed once into a temp table (CREATE TABLE AS may use
#   parallel workers, an UPDATE may not), then two UPDATEs write only the rows that change.
_BEST = """
CREATE TEMP TABLE assignment_best ON COMMIT DROP AS
SELECT DISTINCT ON (b.id) b.id, g.code,
       CASE WHEN ST_Covers(g.geom, b.geom) THEN 1.0
            ELSE ST_Area(ST_Intersection(b.geom, g.geom)) / NULLIF(ST_Area(b.geom), 0)
       END AS share
FROM grids g
JOIN buildings b ON b.geom && g.geom AND ST_Intersects(g.geom, b.geom)
ORDER BY b.id, share DESC, g.code
"""

_ASSIGN_BUILDINGS = """
UPDATE buildings b
SET grid_code = a.code, grid_share = a.share
FROM assignment_best a
WHERE b.id = a.id AND a.share > 0
  AND (b.grid_code IS DISTINCT FROM a.code OR b.grid_share IS DISTINCT FROM a.share)
"""

# Buildings no grid holds any part of (touching an edge is not holding).
_UNASSIGN_OUTSIDE = """
UPDATE buildings b SET grid_code = NULL, grid_share = 0
WHERE (b.grid_code IS NOT NULL OR b.grid_share IS DISTINCT FROM 0)
  AND NOT EXISTS (SELECT 1 FROM assignment_best a WHERE a.id = b.id AND a.share > 0)
"""

_ASSIGN_FACILITIES = """
UPDATE facilities f
SET grid_code = (
    SELECT g.code FROM grids g
    WHERE g.geom && f.geom AND ST_Intersects(g.geom, f.geom)
    ORDER BY g.code LIMIT 1
)
"""


def assign_buildings(conn: Connection) -> int:
    """Set every building's grid to the one holding the largest share of its footprint.

    Returns the number of buildings whose assignment changed.
    """
    # The DISTINCT ON sort of a million candidates spills to disk at the default work_mem.
    previous = conn.execute(text("SELECT current_setting('work_mem')")).scalar_one()
    conn.execute(text("SELECT set_config('work_mem', '256MB', true)"))
    conn.execute(text("DROP TABLE IF EXISTS assignment_best"))
    conn.execute(text(_BEST))
    conn.execute(text("ANALYZE assignment_best"))
    changed = conn.execute(text(_ASSIGN_BUILDINGS)).rowcount
    changed += conn.execute(text(_UNASSIGN_OUTSIDE)).rowcount
    conn.execute(text("DROP TABLE assignment_best"))
    conn.execute(text("SELECT set_config('work_mem', :value, true)"), {"value": previous})
    return int(changed)


def assign_facilities(conn: Connection) -> None:
    """Set every facility's grid to the grid containing its point (none when outside all)."""
    conn.execute(text(_ASSIGN_FACILITIES))


@dataclass(frozen=True)
class SplitBuilding:
    """A building whose largest grid holds less than the threshold share of its footprint."""

    code: str
    grid_code: str
    share: float
    # Share of the footprint in every grid it touches (the rest lies in no grid).
    shares: dict[str, float]
    residents: int | None


@dataclass(frozen=True)
class UnassignedBuilding:
    """A building lying in no grid."""

    code: str
    residents: int | None
    location: dict[str, Any]


# Buildings near the communities in scope (all when :scope is NULL).
_BUILDING_SCOPE = """
    (CAST(:scope AS text[]) IS NULL OR EXISTS (
        SELECT 1 FROM communities c
        WHERE c.code = ANY(CAST(:scope AS text[])) AND c.geom && b.geom
    ))
"""

# Reads the shares stored by assign_buildings, then measures every grid's share only for
# the few split buildings (same planar ratio as the assignment).
_SPLIT = f"""
SELECT b.code, b.grid_code, b.grid_share, b.residents,
       (SELECT json_object_agg(g.code, ST_Area(ST_Intersection(b.geom, g.geom))
                                         / NULLIF(ST_Area(b.geom), 0))
        FROM grids g WHERE g.geom && b.geom AND ST_Intersects(g.geom, b.geom)) AS shares
FROM buildings b
WHERE b.grid_code IS NOT NULL AND b.grid_share < :min_share AND {_BUILDING_SCOPE}
ORDER BY b.code
"""

_UNASSIGNED = f"""
SELECT b.code, b.residents, ST_AsGeoJSON(ST_PointOnSurface(b.geom), 8)::json
FROM buildings b
WHERE b.grid_code IS NULL AND {_BUILDING_SCOPE}
ORDER BY b.code
"""


def find_split_buildings(
    conn: Connection, *, min_share: float, scope: Sequence[str] | None = None
) -> list[SplitBuilding]:
    """Buildings whose assigned grid holds less than ``min_share`` (0–1) of the footprint."""
    rows = conn.execute(
        text(_SPLIT), {"min_share": min_share, "scope": list(scope) if scope is not None else None}
    )
    return [
        SplitBuilding(
            code=r[0],
            grid_code=r[1],
            share=float(r[2]),
            residents=r[3],
            shares={k: round(float(v), 6) for k, v in sorted((r[4] or {}).items()) if v},
        )
        for r in rows
    ]


def find_unassigned_buildings(
    conn: Connection, *, scope: Sequence[str] | None = None
) -> list[UnassignedBuilding]:
    """Buildings lying in no grid, each with a point on its footprint."""
    rows = conn.execute(text(_UNASSIGNED), {"scope": list(scope) if scope is not None else None})
    return [UnassignedBuilding(code=r[0], residents=r[1], location=r[2]) for r in rows]
