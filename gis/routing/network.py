"""The routable street network, built from the ``roads`` layer in set-based SQL.

``build_network`` rebuilds ``routing_vertices`` and ``routing_edges`` from every stored road:

1. each road is cut (noded) where it shares a vertex with another road, and where another
   road's end lies on it or within ``snap_m`` of it (a T-junction, or one undershooting);
   closed rings are also cut in the middle so they do not collapse into a self-loop. Two
   roads that cross without a shared vertex are grade-separated (a bridge over a street, a
   tunnel under it) and stay apart: OpenStreetMap marks every junction with a shared node.
   Roads loaded with ``node_crossings`` (drawn data without junction vertices) are also cut
   where they cross another road of the same ``level`` (the file's ``layer``, or +1 for a
   ``bridge`` and -1 for a ``tunnel``);
2. piece ends within ``snap_m`` of each other become one vertex (``ST_ClusterDBSCAN`` in the
   UTM zone of the roads' centre, so the tolerance is in metres) placed where most of those ends
   already are, and every piece's first and last point is moved onto its vertex so edges meet
   exactly (an edge is off its road by at most ``snap_m``, at its ends);
3. lengths are ``ST_Length(geom::geography)`` (metres on the WGS 84 spheroid); pieces shorter
   than a centimetre and loops onto one vertex are dropped (their ends are already merged);
4. ``pgr_connectedComponents`` labels each vertex and edge with its component.

One-way streets keep ``oneway`` (the piece's direction is the road's), but patrols walk and
walking ignores it. The build is idempotent: the same roads give the same network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Connection, text

from gis.core.crs import utm_epsg

# Ends of roads closer than this are one junction (digitising noise, CAD undershoots).
DEFAULT_SNAP_M = 1.0
# A piece shorter than this is residue of noding two nearly coincident cuts.
_MIN_PIECE_M = 0.01
# Fractions this close to a road's end are the end itself.
_END_FRACTION = 1e-9


@dataclass(frozen=True)
class NetworkSummary:
    """Size of the built network and how it splits into connected components."""

    vertices: int
    edges: int
    length_m: float
    components: int
    main_component: int | None
    main_edges: int
    main_length_m: float


def degrees_for(metres: float, *, lat: float) -> float:
    """Degrees spanning at least ``metres`` at latitude ``lat``, for ``&&``/``ST_Expand`` index
    prefilters (a degree of longitude shrinks towards the poles; one of latitude is >= 110 km);
    the exact test in metres follows on geography or in a metric CRS."""
    return metres / (110_000.0 * max(0.05, math.cos(math.radians(lat))))


def has_network(conn: Connection) -> bool:
    """Whether any street is routable (``summarize_network`` without its grouped scan)."""
    return bool(conn.execute(text("SELECT EXISTS (SELECT 1 FROM routing_edges)")).scalar_one())


def extent_centre(conn: Connection, table: str) -> tuple[float, float] | None:
    """Longitude and latitude of the centre of ``table``'s extent (None when it is empty)."""
    row = conn.execute(
        text(f"SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)) c FROM {table}) s")
    ).one()
    return None if row[0] is None else (float(row[0]), float(row[1]))


_LINES = """
CREATE TEMP TABLE net_lines ON COMMIT DROP AS
SELECT id AS road_id, oneway, node_crossings, level, geom, ST_Points(geom) AS pts,
       ST_Transform(geom, :srid) AS g, ST_IsClosed(geom) AS closed
FROM roads;
CREATE INDEX ON net_lines USING gist (geom);
ANALYZE net_lines;
"""

# Where each road must be cut: points it shares with another road that are a vertex of both
# (and, for roads loaded with node_crossings, every crossing with a road of the same level),
# the points nearest to other roads' ends lying on it or within the tolerance, and the middle
# of closed rings.
_CUTS = """
CREATE TEMP TABLE net_cuts ON COMMIT DROP AS
SELECT a.road_id, ST_LineLocatePoint(a.geom, p.geom) AS f
FROM net_lines a
JOIN net_lines b ON b.road_id <> a.road_id AND b.geom && ST_Expand(a.geom, :tol_deg)
CROSS JOIN LATERAL (
    SELECT x.geom
    FROM (SELECT (ST_DumpPoints(ST_Intersection(a.geom, b.geom))).geom) AS x
    WHERE ST_Intersects(a.geom, b.geom)
      AND (((a.node_crossings OR b.node_crossings) AND a.level = b.level)
           OR (ST_Intersects(x.geom, a.pts) AND ST_Intersects(x.geom, b.pts)))
    UNION ALL
    SELECT ST_ClosestPoint(a.geom, e.geom)
    FROM (VALUES (ST_StartPoint(b.geom), ST_StartPoint(b.g)),
                 (ST_EndPoint(b.geom), ST_EndPoint(b.g))) AS e(geom, g)
    WHERE ST_DWithin(a.g, e.g, :tol_m)
) p
UNION ALL
SELECT road_id, 0.5 FROM net_lines WHERE closed;
"""

_PIECES = """
CREATE TEMP TABLE net_pieces ON COMMIT DROP AS
WITH cuts AS (
    SELECT road_id, f FROM net_cuts WHERE f > :end_f AND f < 1 - :end_f
    UNION SELECT road_id, 0 FROM net_lines
    UNION SELECT road_id, 1 FROM net_lines
),
spans AS (
    SELECT road_id, f, lead(f) OVER (PARTITION BY road_id ORDER BY f) AS f2 FROM cuts
)
SELECT row_number() OVER (ORDER BY s.road_id, s.f) AS piece_id, s.road_id, l.oneway,
       CASE WHEN s.f = 0 AND s.f2 = 1 THEN l.geom
            ELSE ST_LineSubstring(l.geom, s.f, s.f2) END AS geom
FROM spans s JOIN net_lines l USING (road_id)
WHERE s.f2 IS NOT NULL;
DELETE FROM net_pieces WHERE ST_Length(geom::geography) < :min_piece_m;
"""

# Piece ends within the tolerance (in metres, in the UTM zone) are one vertex, placed where most
# of its ends already are: a junction stays on the street an undershooting end is moved onto.
_VERTICES = """
CREATE TEMP TABLE net_ends ON COMMIT DROP AS
SELECT piece_id, is_start,
       ST_ClusterDBSCAN(ST_Transform(pt, :srid), eps := :tol_m, minpoints := 1) OVER () AS cluster,
       pt
FROM net_pieces p
CROSS JOIN LATERAL (VALUES (true, ST_StartPoint(p.geom)), (false, ST_EndPoint(p.geom)))
    AS e(is_start, pt);
CREATE INDEX ON net_ends (piece_id, is_start);
TRUNCATE routing_edges, routing_vertices;
INSERT INTO routing_vertices (id, component, geom)
SELECT DISTINCT ON (cluster) cluster + 1, 0, pt
FROM (SELECT cluster, pt, count(*) AS ends, min(piece_id) AS first
      FROM net_ends GROUP BY cluster, pt) c
ORDER BY cluster, ends DESC, first;
"""

_EDGES = """
INSERT INTO routing_edges (id, road_id, source, target, length_m, oneway, component, geom)
SELECT p.piece_id, p.road_id, s.cluster + 1, t.cluster + 1,
       ST_Length(g.geom::geography), p.oneway, 0, g.geom
FROM net_pieces p
JOIN net_ends s ON s.piece_id = p.piece_id AND s.is_start
JOIN net_ends t ON t.piece_id = p.piece_id AND NOT t.is_start
JOIN routing_vertices vs ON vs.id = s.cluster + 1
JOIN routing_vertices vt ON vt.id = t.cluster + 1
CROSS JOIN LATERAL (
    SELECT ST_SetPoint(ST_SetPoint(p.geom, 0, vs.geom), ST_NPoints(p.geom) - 1, vt.geom) AS geom
) g
WHERE s.cluster <> t.cluster;
"""

# pgRouting labels each component with its smallest vertex id.
_COMPONENTS = """
UPDATE routing_vertices v SET component = c.component
FROM pgr_connectedComponents(
    'SELECT id, source, target, length_m AS cost, length_m AS reverse_cost FROM routing_edges'
) c
WHERE c.node = v.id;
UPDATE routing_edges e SET component = v.component FROM routing_vertices v WHERE v.id = e.source;
DELETE FROM routing_vertices v
WHERE NOT EXISTS (SELECT 1 FROM routing_edges e WHERE e.source = v.id OR e.target = v.id);
ANALYZE routing_vertices;
ANALYZE routing_edges;
"""


def build_network(conn: Connection, *, snap_m: float = DEFAULT_SNAP_M) -> NetworkSummary:
    """Rebuild the routable network from ``roads`` (within the caller's transaction)."""
    centre = extent_centre(conn, "roads")
    if centre is None:
        conn.execute(text("TRUNCATE routing_edges, routing_vertices"))
        return summarize_network(conn)
    tol_deg = degrees_for(snap_m, lat=centre[1])
    params = {
        "srid": utm_epsg(*centre),
        "tol_m": snap_m,
        "tol_deg": tol_deg,
        "end_f": _END_FRACTION,
        "min_piece_m": _MIN_PIECE_M,
    }
    for script in (_LINES, _CUTS, _PIECES, _VERTICES, _EDGES, _COMPONENTS):
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(text(statement), params)
    for table in ("net_ends", "net_pieces", "net_cuts", "net_lines"):
        conn.execute(text(f"DROP TABLE {table}"))
    return summarize_network(conn)


# Crossings of two roads of one level with no junction: no network vertex within the tolerance
# of the crossing point. ST_Crosses leaves out streets that only meet end to end (most pairs on
# a city's network), which are junctions anyway. What is found: a bridge or tunnel drawn without
# its level, or drawn data without junction vertices (which ``--node-crossings`` nodes).
_UNJOINED_CROSSINGS = """
SELECT count(*)
FROM roads a
JOIN roads b ON b.id > a.id AND b.geom && a.geom AND a.level = b.level
    AND ST_Crosses(a.geom, b.geom)
CROSS JOIN LATERAL (SELECT (ST_DumpPoints(ST_Intersection(a.geom, b.geom))).geom) AS x
WHERE NOT EXISTS (
    SELECT 1 FROM routing_vertices v
    WHERE v.geom && ST_Expand(x.geom, :tol_deg)
      AND ST_DWithin(v.geom::geography, x.geom::geography, :tol_m)
)
"""


def count_unjoined_crossings(conn: Connection, *, snap_m: float = DEFAULT_SNAP_M) -> int:
    """Crossings of roads of one level that are no junction of the network (see
    ``_UNJOINED_CROSSINGS``); 0 without roads."""
    centre = extent_centre(conn, "roads")
    if centre is None:
        return 0
    params = {"tol_m": snap_m, "tol_deg": degrees_for(snap_m, lat=centre[1])}
    return int(conn.execute(text(_UNJOINED_CROSSINGS), params).scalar_one())


_SUMMARY = """
WITH comp AS (
    SELECT component, count(*) AS edges, sum(length_m) AS length_m
    FROM routing_edges GROUP BY component
)
SELECT (SELECT count(*) FROM routing_vertices), (SELECT count(*) FROM routing_edges),
       coalesce((SELECT sum(length_m) FROM comp), 0), (SELECT count(*) FROM comp),
       m.component, coalesce(m.edges, 0), coalesce(m.length_m, 0)
FROM (SELECT 1) one
LEFT JOIN LATERAL (
    SELECT * FROM comp ORDER BY length_m DESC, component LIMIT 1
) m ON true
"""


def summarize_network(conn: Connection) -> NetworkSummary:
    """Counts of the stored network; the main component is the one with the most street length."""
    row = conn.execute(text(_SUMMARY)).one()
    return NetworkSummary(
        vertices=int(row[0]),
        edges=int(row[1]),
        length_m=float(row[2]),
        components=int(row[3]),
        main_component=None if row[4] is None else int(row[4]),
        main_edges=int(row[5]),
        main_length_m=float(row[6]),
    )
