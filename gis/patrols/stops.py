"""The stops a plan may visit, gathered from the database as the request chooses (one gatherer
per kind; ``gis.patrols.kinds.STOP_KINDS`` says which request option calls it, its weight, label
and time on site).

- open reports (``OPEN_STATUSES``): required, due by their arrival deadline until someone is on
  site, then by their resolution deadline (the stored due time, or the category's minutes after
  the report for imported history that has none);
- Gi* hot grids (``find_hotspots(unit="grid")``) at the chosen confidence (after FDR, or on the
  raw permutation p when asked): optional, valued by their z-score, visited at a point on a
  street inside the grid for ``dwell_minutes``;
- stale grids: grids no GPS track has passed in the last N days before the plan's start,
  optional, valued by the days since, visited like a hot grid;
- facilities of chosen kinds, buildings (listed) and explicit points: optional;
- care visits: buildings with households whose visit is overdue at the plan's start (or due
  within N days), a dwell per household, valued by how many and how overdue: optional.

Open reports, hot and stale grids, facilities and care visits are those lying in the scope (the
request's districts, by default the patrollers'; and its communities, if given); buildings and
points are taken as listed. Each stop gets the grid and district holding it, from its location.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

import numpy as np
from sqlalchemy import Connection, text

from gis.analysis.hotspots import classify, find_hotspots
from gis.core.errors import InvalidInput
from gis.core.timewindow import time_zone
from gis.core.vocabulary import OPEN_STATUSES
from gis.households.cadence import DAYS_OVERDUE_SQL, DUE_WITHIN_SQL, status_sql
from gis.patrols.request import CareVisitsIn, HotGridsIn, PlanRequest, PointStopIn, StaleGridsIn
from gis.reports.categories import Category
from gis.territory.importing import FACILITY_KINDS

CONFIDENCE_BIN = {90: 1, 95: 2, 99: 3}


class StopKind(StrEnum):
    """What a stop is; each kind has its entry in ``gis.patrols.kinds.STOP_KINDS``."""

    REPORT = "report"
    HOT_GRID = "hot_grid"
    STALE_GRID = "stale_grid"
    FACILITY = "facility"
    BUILDING = "building"
    POINT = "point"
    CARE_VISIT = "care_visit"


@dataclass(frozen=True)
class Stop:
    """A place to visit: what it is, where, for how long, how valuable, and by when.

    A gatherer sets ``value`` to the stop's own score (1 for kinds of one worth, a hot grid's
    z); the registry's weight for the kind multiplies it."""

    kind: StopKind
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


@dataclass(frozen=True)
class GatherContext:
    """What every gatherer may read: the connection, the request, the scope, the report
    categories and the street components the patrollers stand on."""

    conn: Connection
    request: PlanRequest
    scope: Scope
    categories: dict[str, Category]
    components: Sequence[int]


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


def _deadline(
    *,
    category: Category | None,
    reported_at: datetime,
    arrived_at: datetime | None,
    due_arrival_at: datetime | None,
    due_resolution_at: datetime | None,
) -> datetime | None:
    if arrived_at is None:
        if due_arrival_at is not None:
            return due_arrival_at
        return reported_at + timedelta(minutes=category.arrival_minutes) if category else None
    if due_resolution_at is not None:
        return due_resolution_at
    return reported_at + timedelta(minutes=category.resolution_minutes) if category else None


def open_report_stops(ctx: GatherContext, chosen: bool, dwell_minutes: float) -> list[Stop]:
    """Open reports in scope: required stops with their deadline."""
    rows = ctx.conn.execute(
        text(
            f"""
            SELECT r.id, r.category, r.reported_at, r.arrived_at, r.due_arrival_at,
                   r.due_resolution_at, ST_X(r.geom) AS lon, ST_Y(r.geom) AS lat, r.status
            FROM reports r
            WHERE r.status = ANY(CAST(:open AS text[])) AND {_IN_SCOPE.format(point="r.geom")}
            ORDER BY r.id
            """
        ),
        {"open": list(OPEN_STATUSES), **_scope_params(ctx.scope)},
    ).all()
    return [
        Stop(
            kind=StopKind.REPORT,
            ref=str(r.id),
            label=f"{r.category} ({r.status})",
            lon=float(r.lon),
            lat=float(r.lat),
            required=True,
            value=1.0,
            service_minutes=dwell_minutes,
            due_at=_deadline(
                category=ctx.categories.get(r.category),
                reported_at=r.reported_at,
                arrived_at=r.arrived_at,
                due_arrival_at=r.due_arrival_at,
                due_resolution_at=r.due_resolution_at,
            ),
            report_id=int(r.id),
        )
        for r in rows
    ]


# A visit point on a reachable street inside the grid, as near as possible to the grid's
# interior point; the interior point itself when no such street crosses the grid.
GRID_VISIT_POINTS = f"""
SELECT g.code, ST_X(coalesce(v.pt, s.c)) AS lon, ST_Y(coalesce(v.pt, s.c)) AS lat
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


def grid_visit_points(ctx: GatherContext, codes: Sequence[str]) -> list[tuple[str, float, float]]:
    """Where each of the grids ``codes`` in scope is visited: (code, lon, lat)."""
    rows = ctx.conn.execute(
        text(GRID_VISIT_POINTS),
        {"codes": sorted(codes), "components": list(ctx.components), **_scope_params(ctx.scope)},
    ).all()
    return [(r.code, float(r.lon), float(r.lat)) for r in rows]


def hot_grid_stops(ctx: GatherContext, hot: HotGridsIn, dwell_minutes: float) -> list[Stop]:
    """Grids that are Gi* hot spots at ``hot.confidence`` %, valued by z, in scope."""
    result = find_hotspots(
        ctx.conn,
        unit="grid",
        categories=ctx.categories,
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
    return [
        Stop(
            kind=StopKind.HOT_GRID,
            ref=code,
            label=f"hot grid z={z_by_code[code]:.2f} ({hot.confidence} %)",
            lon=lon,
            lat=lat,
            required=False,
            value=float(z_by_code[code]),
            service_minutes=dwell_minutes,
            grid_code=code,
        )
        for code, lon, lat in grid_visit_points(ctx, list(z_by_code))
    ]


# A grid never patrolled is as stale as this (days): it outranks any grid last seen sooner.
MAX_STALE_DAYS = 30.0

# Grids in scope whose last GPS track pass (``patrol_track_grids.last_at``) before the plan's
# start is older than the window, with the days since (NULL: never).
_STALE_GRIDS = f"""
SELECT g.code,
       extract(epoch FROM :start_at - max(t.last_at)) / 86400.0 AS days_since
FROM grids g
CROSS JOIN LATERAL (SELECT ST_PointOnSurface(g.geom) AS c) s
LEFT JOIN patrol_track_grids t ON t.grid_code = g.code AND t.last_at <= :start_at
WHERE {_IN_SCOPE.format(point="s.c")}
GROUP BY g.code
HAVING max(t.last_at) IS NULL OR max(t.last_at) < :start_at - make_interval(days => :days)
ORDER BY g.code
"""


def stale_grid_stops(ctx: GatherContext, stale: StaleGridsIn, dwell_minutes: float) -> list[Stop]:
    """Grids in scope no track has passed in ``stale.days`` days, valued by the days since."""
    rows = ctx.conn.execute(
        text(_STALE_GRIDS),
        {"start_at": ctx.request.start_at, "days": stale.days, **_scope_params(ctx.scope)},
    ).all()
    days = {
        r.code: MAX_STALE_DAYS if r.days_since is None else min(MAX_STALE_DAYS, float(r.days_since))
        for r in rows
    }
    if not days:
        return []
    return [
        Stop(
            kind=StopKind.STALE_GRID,
            ref=code,
            label=(
                "never patrolled"
                if days[code] >= MAX_STALE_DAYS
                else f"last patrolled {days[code]:.1f} days ago"
            ),
            lon=lon,
            lat=lat,
            required=False,
            value=days[code],
            service_minutes=dwell_minutes,
            grid_code=code,
        )
        for code, lon, lat in grid_visit_points(ctx, list(days))
    ]


def facility_stops(ctx: GatherContext, kinds: Sequence[str], dwell_minutes: float) -> list[Stop]:
    """Facilities of ``kinds`` in scope."""
    unknown = sorted(set(kinds) - set(FACILITY_KINDS))
    if unknown:
        raise InvalidInput(
            f"stops.facilities: unknown facility kind(s) {', '.join(unknown)}; "
            f"expected: {', '.join(FACILITY_KINDS)}"
        )
    rows = ctx.conn.execute(
        text(
            f"""
            SELECT f.id, f.code, f.kind, f.name, ST_X(f.geom) AS lon, ST_Y(f.geom) AS lat
            FROM facilities f
            WHERE f.kind = ANY(CAST(:kinds AS text[])) AND {_IN_SCOPE.format(point="f.geom")}
            ORDER BY f.code
            """
        ),
        {"kinds": list(kinds), **_scope_params(ctx.scope)},
    ).all()
    return [
        Stop(
            kind=StopKind.FACILITY,
            ref=r.code,
            label=f"{r.kind} {r.name or ''}".strip(),
            lon=float(r.lon),
            lat=float(r.lat),
            required=False,
            value=1.0,
            service_minutes=dwell_minutes,
            facility_id=int(r.id),
        )
        for r in rows
    ]


# A care visit is worth a listed building per household, and more the longer it is overdue
# (a week overdue doubles a household's worth).
CARE_VALUE_PER_OVERDUE_DAY = 1.0 / 7.0

_CARE_BUILDINGS = f"""
WITH s AS ({status_sql("h.care <> '{}' OR h.visit_every_days IS NOT NULL")}),
due AS (
    SELECT s.building_id, s.code, {DAYS_OVERDUE_SQL} AS days_overdue
    FROM s WHERE {DUE_WITHIN_SQL}
)
SELECT b.id, b.code, ST_X(p) AS lon, ST_Y(p) AS lat,
       array_agg(due.code ORDER BY due.code) AS households,
       sum(coalesce(due.days_overdue, 0)) AS days_overdue
FROM due JOIN buildings b ON b.id = due.building_id
CROSS JOIN LATERAL ST_PointOnSurface(b.geom) AS p
WHERE {_IN_SCOPE.format(point="p")}
GROUP BY b.id, b.code, p
ORDER BY b.code
"""


def care_visit_stops(ctx: GatherContext, care: CareVisitsIn, dwell_minutes: float) -> list[Stop]:
    """Buildings in scope with households whose care visit is overdue at ``start_at`` (or
    due within ``care.due_within_days``), at a point inside each footprint: a dwell per
    household, valued by how many and how overdue; the label lists the households' codes
    (their names stay behind ``read_households``)."""
    zone = time_zone(care.timezone or "UTC")
    rows = ctx.conn.execute(
        text(_CARE_BUILDINGS),
        {
            "now": ctx.request.start_at,
            "tz": str(zone),
            "within": care.due_within_days,
            **_scope_params(ctx.scope),
        },
    ).all()
    return [
        Stop(
            kind=StopKind.CARE_VISIT,
            ref=r.code,
            label=f"{len(r.households)} household(s) to visit: {', '.join(r.households)}",
            lon=float(r.lon),
            lat=float(r.lat),
            required=False,
            value=len(r.households) + CARE_VALUE_PER_OVERDUE_DAY * float(r.days_overdue),
            service_minutes=dwell_minutes * len(r.households),
            building_id=int(r.id),
        )
        for r in rows
    ]


def building_stops(ctx: GatherContext, codes: Sequence[str], dwell_minutes: float) -> list[Stop]:
    """The listed buildings (care visits), at a point inside each footprint."""
    rows = ctx.conn.execute(
        text(
            """
            SELECT b.id, b.code, b.name, ST_X(p) AS lon, ST_Y(p) AS lat
            FROM buildings b CROSS JOIN LATERAL ST_PointOnSurface(b.geom) AS p
            WHERE b.code = ANY(CAST(:codes AS text[]))
            ORDER BY b.code
            """
        ),
        {"codes": list(codes)},
    ).all()
    missing = sorted(set(codes) - {r.code for r in rows})
    if missing:
        shown = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
        raise InvalidInput(f"stops.buildings: no building with code(s) {shown}")
    return [
        Stop(
            kind=StopKind.BUILDING,
            ref=r.code,
            label=r.name,
            lon=float(r.lon),
            lat=float(r.lat),
            required=False,
            value=1.0,
            service_minutes=dwell_minutes,
            building_id=int(r.id),
        )
        for r in rows
    ]


_LOCATE = """
SELECT p.k,
       (SELECT g.code FROM grids g WHERE g.geom && p.geom AND ST_Intersects(g.geom, p.geom)
        ORDER BY g.code LIMIT 1) AS grid_code,
       (SELECT d.code FROM districts d WHERE d.geom && p.geom AND ST_Intersects(d.geom, p.geom)
        ORDER BY d.code LIMIT 1) AS district_code
FROM (
    SELECT k, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geom
    FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS u(lon, lat, k)
) p
ORDER BY p.k
"""


def locate_stops(conn: Connection, stops: Sequence[Stop]) -> list[Stop]:
    """Each stop with the grid and district holding it (one set-based query).

    A stop of a grid (a hot or stale grid) keeps its own grid, and takes the district of the
    grid's interior point, since its visit point may lie on a border street.
    """
    if not stops:
        return []
    own = [s.grid_code for s in stops if s.grid_code is not None]
    interior = grid_anchors(conn, own)
    anchors = [
        (s.lon, s.lat) if s.grid_code is None else interior.get(s.grid_code, (s.lon, s.lat))
        for s in stops
    ]
    located = []
    for stop, (grid, district) in zip(stops, locate_points(conn, anchors), strict=True):
        if stop.grid_code is not None:
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
    return [(row.grid_code, row.district_code) for row in rows]


def grid_anchors(conn: Connection, codes: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Interior points of grids (where a grid stop's district is read)."""
    rows = conn.execute(
        text(
            "SELECT code, ST_X(p) AS lon, ST_Y(p) AS lat "
            "FROM grids CROSS JOIN LATERAL ST_PointOnSurface(geom) p "
            "WHERE code = ANY(CAST(:codes AS text[]))"
        ),
        {"codes": sorted(set(codes))},
    ).all()
    return {r.code: (float(r.lon), float(r.lat)) for r in rows}


def point_stops(
    ctx: GatherContext, points: Sequence[PointStopIn], dwell_minutes: float
) -> list[Stop]:
    """The request's explicit points (each may give its own time on site)."""
    return [
        Stop(
            kind=StopKind.POINT,
            ref=p.label,
            label=p.label,
            lon=p.lon,
            lat=p.lat,
            required=False,
            value=1.0,
            service_minutes=dwell_minutes if p.service_minutes is None else p.service_minutes,
        )
        for p in points
    ]
