"""Points snapped onto the street network: the nearest point on an edge, not only a vertex.

Candidates come from the GiST index in degree space (``<->``, the 8 nearest edges), then the
nearest by ``ST_Distance(geography)`` in metres is kept: degrees of longitude and latitude differ
in length away from the equator, so the planar nearest need not be the true nearest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

# Fractions are kept off an edge's very ends so pgRouting's withPoints always routes a point
# through its own edge (at 0 or 1 it may equally report a neighbouring edge).
_EDGE_END = 1e-7
_CANDIDATES = 8


@dataclass(frozen=True)
class SnappedPoint:
    """A point and where it meets the network (``edge_id`` None when there is no network)."""

    pid: int
    lon: float
    lat: float
    edge_id: int | None
    fraction: float
    component: int | None
    distance_m: float
    snap_lon: float
    snap_lat: float


_SNAP = """
SELECT p.pid, p.lon, p.lat, e.id, e.fraction, e.component, e.distance_m, e.sx, e.sy
FROM unnest(CAST(:pids AS bigint[]), CAST(:lons AS float8[]), CAST(:lats AS float8[]))
     AS p(pid, lon, lat)
CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326) AS geom) pt
LEFT JOIN LATERAL (
    SELECT c.id, c.component,
           least(greatest(ST_LineLocatePoint(c.geom, pt.geom), :edge_end), 1 - :edge_end)
               AS fraction,
           ST_Distance(c.geom::geography, pt.geom::geography) AS distance_m,
           ST_X(ST_ClosestPoint(c.geom, pt.geom)) AS sx,
           ST_Y(ST_ClosestPoint(c.geom, pt.geom)) AS sy
    FROM (
        SELECT e.id, e.component, e.geom FROM routing_edges e
        WHERE CAST(:components AS bigint[]) IS NULL
           OR e.component = ANY(CAST(:components AS bigint[]))
        ORDER BY e.geom <-> pt.geom
        LIMIT :candidates
    ) c
    ORDER BY distance_m, c.id
    LIMIT 1
) e ON true
ORDER BY p.pid
"""


def snap_points(
    conn: Connection,
    lonlat: Sequence[tuple[float, float]],
    *,
    components: Sequence[int] | None = None,
) -> list[SnappedPoint]:
    """Snap each (lon, lat) to the nearest edge (of ``components`` if given); pids are 1..n."""
    if not lonlat:
        return []
    rows = conn.execute(
        text(_SNAP),
        {
            "pids": list(range(1, len(lonlat) + 1)),
            "lons": [float(x) for x, _ in lonlat],
            "lats": [float(y) for _, y in lonlat],
            "components": None if components is None else [int(c) for c in components],
            "edge_end": _EDGE_END,
            "candidates": _CANDIDATES,
        },
    ).all()
    return [
        SnappedPoint(
            pid=int(r[0]),
            lon=float(r[1]),
            lat=float(r[2]),
            edge_id=None if r[3] is None else int(r[3]),
            fraction=0.0 if r[4] is None else float(r[4]),
            component=None if r[5] is None else int(r[5]),
            distance_m=float("inf") if r[6] is None else float(r[6]),
            snap_lon=float(r[1]) if r[7] is None else float(r[7]),
            snap_lat=float(r[2]) if r[8] is None else float(r[8]),
        )
        for r in rows
    ]
