"""The stops a plan may visit, gathered from the database as the request chooses.

- open reports (``OPEN_STATUSES``): required, due by their arrival deadline until someone is on
  site, then by their resolution deadline (``gis.reports.deadlines``, the rule of the report
  queue and the KPIs);
- Gi* hot grids (``find_hotspots(unit="grid")``) at the chosen confidence (after FDR, or on the
  raw permutation p when asked): optional, valued by their z-score, visited at a point on a
  street inside the grid for ``dwell_minutes``;
- facilities of chosen kinds, buildings (care visits) and explicit points: optional.

Open reports, hot grids and facilities are those lying in the scope (the request's districts,
by default the patrollers'; and its communities, if given); buildings and points are taken as
listed. Each stop gets the grid and district holding it, from its location.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
from sqlalchemy import Connection, text

from gis.analysis.hotspots import classify, find_hotspots
from gis.core.errors import InvalidInput
from gis.core.vocabulary import OPEN_STATUSES
from gis.patrols.request import HotGridsIn, PlanRequest
from gis.reports.categories import Category
from gis.reports.deadlines import due_sql
from gis.territory.importing import FACILITY_KINDS

# What a served optional stop is worth, relative to one another (hot grids: their Gi* z).
# A care visit or a point someone named outranks a routine facility check.
STOP_VALUES = {"facility": 1.0, "building": 3.0, "point": 3.0}
CONFIDENCE_BIN = {90: 1, 95: 2, 99: 3}


@dataclass(frozen=True)
class Stop:
    """A place to visit: what it is, where, for how long, how valuable, and by when."""

    kind: str
    ref: str
    lon: float
    lat: float
    required: bool
    value: float
    service_minutes: float
    label: str | None = None
    due_at: datetime | None = None
    report_id: int | None = None
    facility_id: int | None = None
    building_id: int | None = None
    grid_code: str | None = None
    district_code: str | None = None


@dataclass(frozen=True)
class Scope:
    """Districts and communities whose open reports, hot grids and facilities are stops."""

    districts: list[str] | None
    communities: list[str] | None


_IN_SCOPE = """
    (CAST(:districts AS text[]) IS NULL OR EXISTS (
        SELECT 1 FROM districts d
        WHERE d.code = ANY(CAST(:districts AS text[])) AND ST_Intersects(d.geom, {point})))
    AND (CAST(:communities AS text[]) IS NULL OR EXISTS (
        SELECT 1 FROM communities c
        WHERE c.code = ANY(CAST(:communities AS text[])) AND ST_Intersects(c.geom, {point})))
"""


def _scope_params(scope: Scope) -> dict[str, list[str] | None]:
    return {"districts": scope.districts, "communities": scope.communities}


def open_report_stops(
    conn: Connection,
    *,
    scope: Scope,
    service_minutes: float,
) -> list[Stop]:
    """Open reports in scope: required stops due by the deadline running now (``due_sql``)."""
    rows = conn.execute(
        text(
            f"""
            SELECT r.id, r.category, {due_sql("r")}, ST_X(r.geom), ST_Y(r.geom), r.status
            FROM reports r
            WHERE r.status = ANY(CAST(:open AS text[])) AND {_IN_SCOPE.format(point="r.geom")}
            ORDER BY r.id
            """
        ),
        {"open": list(OPEN_STATUSES), **_scope_params(scope)},
    ).all()
    return [
        Stop(
            kind="report",
            ref=str(r[0]),
            label=f"{r[1]} ({r[5]})",
            lon=float(r[3]),
            lat=float(r[4]),
            required=True,
            value=1.0,
            service_minutes=service_minutes,
            due_at=r[2],
            report_id=int(r[0]),
        )
        for r in rows
    ]


# A visit point on a reachable street inside the grid, as near as possible to the grid's
# interior point; the interior point itself when no such street crosses the grid.
_HOT_GRID_POINTS = f"""
SELECT g.code, ST_X(coalesce(v.pt, s.c)), ST_Y(coalesce(v.pt, s.c))
FROM grids g
CROSS JOIN LATERAL (SELECT ST_PointOnSurface(g.geom) AS c) s
LEFT JOIN LATERAL (
    SELECT ST_ClosestPoint(ST_Intersection(e.geom, g.geom), s.c) AS pt
    FROM routing_edges e
    WHERE e.geom && g.geom AND ST_Intersects(e.geom, g.geom)
      AND e.component = ANY(CAST(:components AS bigint[]))
    ORDER BY ST_Distance(e.geom, s.c), e.id
    LIMIT 1
) v ON true
WHERE g.code = ANY(CAST(:codes AS text[])) AND {_IN_SCOPE.format(point="s.c")}
ORDER BY g.code
"""


def hot_grid_stops(
    conn: Connection,
    hot: HotGridsIn,
    *,
    scope: Scope,
    categories: dict[str, Category],
    components: Sequence[int],
) -> list[Stop]:
    """Grids that are Gi* hot spots at ``hot.confidence`` %, valued by z, in scope."""
    result = find_hotspots(
        conn,
        unit="grid",
        categories=categories,
        category_codes=hot.categories or None,
        since=hot.since,
        until=hot.until,
    )
    min_bin = CONFIDENCE_BIN[hot.confidence]
    z = np.array([u.z for u in result.units], dtype=np.float64)
    p = np.array([u.p_fdr if hot.fdr else u.p for u in result.units], dtype=np.float64)
    bins = classify(z, p)
    z_by_code = {u.id: u.z for u, b in zip(result.units, bins, strict=True) if b >= min_bin}
    if not z_by_code:
        return []
    rows = conn.execute(
        text(_HOT_GRID_POINTS),
        {"codes": sorted(z_by_code), "components": list(components), **_scope_params(scope)},
    ).all()
    return [
        Stop(
            kind="hot_grid",
            ref=r[0],
            label=f"hot grid z={z_by_code[r[0]]:.2f} ({hot.confidence} %)",
            lon=float(r[1]),
            lat=float(r[2]),
            required=False,
            value=float(z_by_code[r[0]]),
            service_minutes=hot.dwell_minutes,
            grid_code=r[0],
        )
        for r in rows
    ]


def facility_stops(
    conn: Connection, kinds: Sequence[str], *, scope: Scope, service_minutes: float
) -> list[Stop]:
    """Facilities of ``kinds`` in scope."""
    unknown = sorted(set(kinds) - set(FACILITY_KINDS))
    if unknown:
        raise InvalidInput(
            f"stops.facilities: unknown facility kind(s) {', '.join(unknown)}; "
            f"expected: {', '.join(FACILITY_KINDS)}"
        )
    rows = conn.execute(
        text(
            f"""
            SELECT f.id, f.code, f.kind, f.name, ST_X(f.geom), ST_Y(f.geom)
            FROM facilities f
            WHERE f.kind = ANY(CAST(:kinds AS text[])) AND {_IN_SCOPE.format(point="f.geom")}
            ORDER BY f.code
            """
        ),
        {"kinds": list(kinds), **_scope_params(scope)},
    ).all()
    return [
        Stop(
            kind="facility",
            ref=r[1],
            label=f"{r[2]} {r[3] or ''}".strip(),
            lon=float(r[4]),
            lat=float(r[5]),
            required=False,
            value=STOP_VALUES["facility"],
            service_minutes=service_minutes,
            facility_id=int(r[0]),
        )
        for r in rows
    ]


def building_stops(conn: Connection, codes: Sequence[str], *, service_minutes: float) -> list[Stop]:
    """The listed buildings (care visits), at a point inside each footprint."""
    rows = conn.execute(
        text(
            """
            SELECT b.id, b.code, b.name, ST_X(p), ST_Y(p)
            FROM buildings b CROSS JOIN LATERAL ST_PointOnSurface(b.geom) AS p
            WHERE b.code = ANY(CAST(:codes AS text[]))
            ORDER BY b.code
            """
        ),
        {"codes": list(codes)},
    ).all()
    missing = sorted(set(codes) - {r[1] for r in rows})
    if missing:
        shown = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
        raise InvalidInput(f"stops.buildings: no building with code(s) {shown}")
    return [
        Stop(
            kind="building",
            ref=r[1],
            label=r[2],
            lon=float(r[3]),
            lat=float(r[4]),
            required=False,
            value=STOP_VALUES["building"],
            service_minutes=service_minutes,
            building_id=int(r[0]),
        )
        for r in rows
    ]


_LOCATE = """
SELECT p.k,
       (SELECT g.code FROM grids g WHERE g.geom && p.geom AND ST_Intersects(g.geom, p.geom)
        ORDER BY g.code LIMIT 1),
       (SELECT d.code FROM districts d WHERE d.geom && p.geom AND ST_Intersects(d.geom, p.geom)
        ORDER BY d.code LIMIT 1)
FROM (
    SELECT k, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geom
    FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS u(lon, lat, k)
) p
ORDER BY p.k
"""


def locate_stops(conn: Connection, stops: Sequence[Stop]) -> list[Stop]:
    """Each stop with the grid and district holding it (one set-based query).

    A hot grid keeps its own grid, and takes the district of the grid's interior point, since
    its visit point may lie on a border street.
    """
    if not stops:
        return []
    hot = hot_grid_anchors(conn, [s.ref for s in stops if s.kind == "hot_grid"])
    anchors = [
        hot.get(s.ref, (s.lon, s.lat)) if s.kind == "hot_grid" else (s.lon, s.lat) for s in stops
    ]
    located = []
    for stop, (grid, district) in zip(stops, locate_points(conn, anchors), strict=True):
        if stop.kind == "hot_grid":
            grid = stop.grid_code
        located.append(replace(stop, grid_code=grid, district_code=district))
    return located


def locate_points(
    conn: Connection, points: Sequence[tuple[float, float]]
) -> list[tuple[str | None, str | None]]:
    """The grid and the district holding each (lon, lat) point, in order (one query; on a
    border, the lowest code)."""
    if not points:
        return []
    rows = conn.execute(
        text(_LOCATE), {"lons": [p[0] for p in points], "lats": [p[1] for p in points]}
    ).all()
    return [(row[1], row[2]) for row in rows]


def hot_grid_anchors(conn: Connection, codes: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Interior points of grids (where a hot grid's district is read)."""
    rows = conn.execute(
        text(
            "SELECT code, ST_X(p), ST_Y(p) FROM grids CROSS JOIN LATERAL ST_PointOnSurface(geom) p "
            "WHERE code = ANY(CAST(:codes AS text[]))"
        ),
        {"codes": list(codes)},
    ).all()
    return {r[0]: (float(r[1]), float(r[2])) for r in rows}


def point_stops(request: PlanRequest) -> list[Stop]:
    """The request's explicit points."""
    return [
        Stop(
            kind="point",
            ref=p.label,
            label=p.label,
            lon=p.lon,
            lat=p.lat,
            required=False,
            value=STOP_VALUES["point"],
            service_minutes=(
                request.service_minutes if p.service_minutes is None else p.service_minutes
            ),
        )
        for p in request.stops.points
    ]


def gather_stops(
    conn: Connection,
    request: PlanRequest,
    *,
    scope: Scope,
    categories: dict[str, Category],
    components: Sequence[int],
) -> list[Stop]:
    """Every stop the request chooses, located in grids and districts."""
    chosen = request.stops
    stops: list[Stop] = []
    if chosen.open_reports:
        stops += open_report_stops(conn, scope=scope, service_minutes=request.service_minutes)
    if chosen.hot_grids is not None:
        stops += hot_grid_stops(
            conn, chosen.hot_grids, scope=scope, categories=categories, components=components
        )
    if chosen.facilities:
        stops += facility_stops(
            conn, chosen.facilities, scope=scope, service_minutes=request.service_minutes
        )
    if chosen.buildings:
        stops += building_stops(conn, chosen.buildings, service_minutes=request.service_minutes)
    stops += point_stops(request)
    return locate_stops(conn, stops)
