"""Shortest walking distances and paths between snapped points, from pgRouting.

Both calls hand pgRouting the edges of the components the points lie on (undirected: walking
ignores one-way streets, so ``reverse_cost = cost = length_m``) and the points as
``(pid, edge_id, fraction)`` rows; pgRouting's ``withPoints`` family splits those edges at the
points internally, so a stop in the middle of a 300 m street is reached where it is.

- ``cost_matrix``: every pair in ONE ``pgr_withPointsCostMatrix`` call (a Dijkstra per point in
  C++, never a query per pair); pairs in different components are ``inf``.
- ``street_paths``: the legs of routes in ONE ``pgr_withPoints`` call with a combinations query;
  each step of a path is cut from its edge (``ST_LineSubstring`` between the fractions of its two
  ends, reversed when walked against the edge's direction) and a route's steps are merged, in
  order, into one LineString that lies on the streets.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, text

from gis.routing.snapping import SnappedPoint

FloatMatrix = npt.NDArray[np.float64]


def _edges_sql(components: Sequence[int]) -> str:
    ids = ",".join(str(int(c)) for c in sorted(set(components)))
    return (
        "SELECT id, source, target, length_m AS cost, length_m AS reverse_cost "
        f"FROM routing_edges WHERE component IN ({ids})"
    )


def _points_sql(points: Sequence[SnappedPoint]) -> str:
    # Numbers we produced ourselves (ids, floats), never user text: safe to inline.
    rows = ",".join(f"({p.pid},{p.edge_id},{p.fraction!r})" for p in points)
    return f"SELECT pid, edge_id, fraction FROM (VALUES {rows}) AS p(pid, edge_id, fraction)"


def _snapped(points: Sequence[SnappedPoint]) -> list[SnappedPoint]:
    return [p for p in points if p.edge_id is not None and p.component is not None]


def cost_matrix(conn: Connection, points: Sequence[SnappedPoint]) -> FloatMatrix:
    """Walking metres between every pair of ``points`` along the streets (``inf``: no path).

    Row/column ``k`` is ``points[k]``; the distance counts only street metres between the
    snapped positions (the walk from a point to its street is the caller's to add).
    """
    n = len(points)
    matrix = np.full((n, n), np.inf)
    np.fill_diagonal(matrix, 0.0)
    on_network = _snapped(points)
    if len(on_network) < 2:
        return matrix
    index = {p.pid: k for k, p in enumerate(points)}
    rows = conn.execute(
        text(
            "SELECT start_vid, end_vid, agg_cost FROM pgr_withPointsCostMatrix("
            ":edges, :points, CAST(:vids AS bigint[]), directed := false)"
        ),
        {
            "edges": _edges_sql([p.component for p in on_network if p.component is not None]),
            "points": _points_sql(on_network),
            "vids": [-p.pid for p in on_network],
        },
    ).all()
    if rows:
        starts = np.array([index[-int(r[0])] for r in rows])
        ends = np.array([index[-int(r[1])] for r in rows])
        matrix[starts, ends] = np.array([float(r[2]) for r in rows])
    # Two points at the same spot of one edge: pgRouting reports no pair, the distance is 0.
    by_spot: dict[tuple[int | None, float], list[int]] = {}
    for p in on_network:
        by_spot.setdefault((p.edge_id, p.fraction), []).append(index[p.pid])
    for same in by_spot.values():
        for a in same:
            matrix[a, same] = 0.0
    return matrix


@dataclass(frozen=True)
class StreetPath:
    """A walk through points in order: its street geometry (GeoJSON) and length in metres."""

    geometry: dict[str, Any] | None
    length_m: float


_PATHS = """
WITH pts AS ({points}),
legs AS (
    SELECT * FROM unnest(CAST(:walks AS int[]), CAST(:legs AS int[]),
                         CAST(:froms AS bigint[]), CAST(:tos AS bigint[])) AS l(walk, leg, a, b)
),
path AS (
    SELECT * FROM pgr_withPoints(:edges, :points_sql, :pairs, directed := false)
),
steps AS (
    SELECT p.start_pid, p.end_pid, p.path_seq, p.node, p.edge,
           lead(p.node) OVER (PARTITION BY p.start_pid, p.end_pid ORDER BY p.path_seq) AS next
    FROM path p
),
pieces AS (
    SELECT s.start_pid, s.end_pid, s.path_seq, e.geom,
           CASE WHEN s.node < 0 THEN (SELECT fraction FROM pts WHERE pid = -s.node)
                WHEN s.node = e.source THEN 0.0 ELSE 1.0 END AS f1,
           CASE WHEN s.next < 0 THEN (SELECT fraction FROM pts WHERE pid = -s.next)
                WHEN s.next = e.source THEN 0.0 ELSE 1.0 END AS f2
    FROM steps s JOIN routing_edges e ON e.id = s.edge
    WHERE s.edge > 0 AND s.next IS NOT NULL
),
cut AS (
    SELECT l.walk, l.leg, p.path_seq,
           CASE WHEN p.f1 <= p.f2 THEN ST_LineSubstring(p.geom, p.f1, p.f2)
                ELSE ST_Reverse(ST_LineSubstring(p.geom, p.f2, p.f1)) END AS geom
    FROM pieces p JOIN legs l ON l.a = -p.start_pid AND l.b = -p.end_pid
    WHERE p.f1 <> p.f2
),
walks AS (
    SELECT walk, ST_RemoveRepeatedPoints(ST_MakeLine(array_agg(geom ORDER BY leg, path_seq)))
           AS geom
    FROM cut GROUP BY walk
)
SELECT walk, ST_AsGeoJSON(geom, 7), ST_Length(geom::geography) FROM walks
"""


def street_paths(
    conn: Connection, points: Sequence[SnappedPoint], walks: Sequence[Sequence[int]]
) -> list[StreetPath]:
    """The street path of each walk (a sequence of pids, in order), merged into one line.

    Consecutive pids must lie on one component (the caller plans only reachable legs); a walk
    whose points all sit at one spot has no geometry and length 0.
    """
    by_pid = {p.pid: p for p in points}
    walk_ids: list[int] = []
    leg_ids: list[int] = []
    froms: list[int] = []
    tos: list[int] = []
    used: set[int] = set()
    for w, walk in enumerate(walks):
        for k, (a, b) in enumerate(zip(walk, walk[1:], strict=False)):
            pa, pb = by_pid[a], by_pid[b]
            if (pa.edge_id, pa.fraction) == (pb.edge_id, pb.fraction):
                continue  # same spot: nothing to walk
            walk_ids.append(w)
            leg_ids.append(k)
            froms.append(a)
            tos.append(b)
            used.update((a, b))
    results = [StreetPath(geometry=None, length_m=0.0) for _ in walks]
    if not froms:
        return results
    on_network = [by_pid[pid] for pid in sorted(used)]
    components = [p.component for p in on_network if p.component is not None]
    points_sql = _points_sql(on_network)
    pairs = sorted(set(zip(froms, tos, strict=True)))
    pairs_sql = "SELECT source, target FROM (VALUES {}) AS c(source, target)".format(
        ",".join(f"({-a},{-b})" for a, b in pairs)
    )
    rows = conn.execute(
        text(_PATHS.format(points=points_sql)),
        {
            "edges": _edges_sql(components),
            "points_sql": points_sql,
            "pairs": pairs_sql,
            "walks": walk_ids,
            "legs": leg_ids,
            "froms": froms,
            "tos": tos,
        },
    ).all()

    for walk, geojson, length_m in rows:
        results[int(walk)] = StreetPath(geometry=json.loads(geojson), length_m=float(length_m))
    return results
