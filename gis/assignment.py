"""Building → grid and facility → grid assignment, from location, in set-based SQL."""

from __future__ import annotations

from sqlalchemy import Connection, text

# A building belongs to the grid holding the largest share of its footprint. The share is a
# ratio of two areas of the same small footprint, so planar areas in EPSG:4326 give the same
# ratio as metric ones (the scale factor cancels) at a fraction of the cost of geography.
_ASSIGN_BUILDINGS = """
WITH candidates AS (
    SELECT b.id, g.code,
           CASE WHEN ST_CoveredBy(b.geom, g.geom) THEN 1.0
                ELSE ST_Area(ST_Intersection(b.geom, g.geom)) / NULLIF(ST_Area(b.geom), 0)
           END AS share
    FROM grids g
    JOIN buildings b ON b.geom && g.geom AND ST_Intersects(b.geom, g.geom)
),
best AS (
    SELECT DISTINCT ON (id) id, code, share
    FROM candidates
    WHERE share > 0
    ORDER BY id, share DESC, code
)
UPDATE buildings b
SET grid_code = best.code, grid_share = best.share
FROM best
WHERE b.id = best.id
  AND (b.grid_code IS DISTINCT FROM best.code OR b.grid_share IS DISTINCT FROM best.share)
"""

_UNASSIGN_OUTSIDE = """
UPDATE buildings b SET grid_code = NULL, grid_share = 0
WHERE (b.grid_code IS NOT NULL OR b.grid_share IS NULL)
  AND NOT EXISTS (
      SELECT 1 FROM grids g
      WHERE g.geom && b.geom AND ST_Intersects(g.geom, b.geom)
        AND ST_Area(ST_Intersection(b.geom, g.geom)) > 0
  )
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
    changed = conn.execute(text(_ASSIGN_BUILDINGS)).rowcount
    changed += conn.execute(text(_UNASSIGN_OUTSIDE)).rowcount
    return int(changed)


def assign_facilities(conn: Connection) -> None:
    """Set every facility's grid to the grid containing its point (none when outside all)."""
    conn.execute(text(_ASSIGN_FACILITIES))
