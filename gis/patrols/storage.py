"""Plans stored in PostGIS and read back as the typed answer (``gis.patrols.answer``).

Storing and reading only: ``gis.patrols.service`` runs a plan from request to answer.

A plan, its routes and its stops are written in a handful of set-based statements (rows passed
as one JSON array each, unpacked by ``jsonb_to_recordset``). The metres each route walks in
every grid and district come from ``ST_Intersection`` with the polygons, measured through
geography; a street on a border counts for the polygons on both sides.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, text

from gis.core.errors import NotFound
from gis.patrols.answer import (
    AlternativeOut,
    ComparisonOut,
    GridLengthOut,
    LineStringGeometry,
    LonLatOut,
    PatrollerOut,
    PlanOut,
    PlanPageOut,
    PlanSummaryOut,
    RouteOut,
    ShareOut,
    StopOut,
    UnservedOut,
)
from gis.patrols.planning import Plan, PlannedStop, PlanOutcome
from gis.patrols.reasons import UnservedCode
from gis.patrols.request import PlanRequest
from gis.patrols.scope import plan_scope_condition
from gis.patrols.stops import StopKind
from gis.territory.layers import check_page


def _stop_row(plan_stop: PlannedStop, route_seq: int | None) -> dict[str, Any]:
    stop = plan_stop.stop
    return {
        "route_seq": route_seq,
        "seq": plan_stop.seq,
        "kind": stop.kind,
        "ref": stop.ref,
        "label": stop.label,
        "required": stop.required,
        "value": stop.value,
        "report_id": stop.report_id,
        "facility_id": stop.facility_id,
        "building_id": stop.building_id,
        "grid_code": stop.grid_code,
        "district_code": stop.district_code,
        "service_minutes": stop.service_minutes,
        "due_at": _iso(stop.due_at),
        "arrive_at": _iso(plan_stop.arrive_at),
        "depart_at": _iso(plan_stop.depart_at),
        "late": plan_stop.late,
        "late_minutes": plan_stop.late_minutes,
        "snap_distance_m": plan_stop.snap_distance_m,
        "reason_code": None if plan_stop.reason is None else plan_stop.reason.code.value,
        "reason": None if plan_stop.reason is None else plan_stop.reason.detail,
        "lon": stop.lon,
        "lat": stop.lat,
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


_INSERT_ROUTES = """
INSERT INTO patrol_routes (plan_id, seq, patroller_name, worker_id, district_code, shift_minutes,
                           length_m, duration_minutes, depart_at, return_at, start_geom, end_geom,
                           geom)
SELECT :plan_id, r.seq, r.name, r.worker_id, r.district_code, r.shift_minutes, r.length_m,
       r.duration_minutes, r.depart_at, r.return_at,
       ST_SetSRID(ST_MakePoint(r.start_lon, r.start_lat), 4326),
       ST_SetSRID(ST_MakePoint(r.end_lon, r.end_lat), 4326),
       ST_SetSRID(ST_GeomFromGeoJSON(r.geometry), 4326)
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
    seq integer, name text, worker_id bigint, district_code text, shift_minutes float8,
    length_m float8, duration_minutes float8, depart_at timestamptz, return_at timestamptz,
    start_lon float8, start_lat float8, end_lon float8, end_lat float8, geometry text)
ORDER BY r.seq
"""

_INSERT_STOPS = """
INSERT INTO patrol_stops (plan_id, route_id, seq, kind, ref, label, required, value, report_id,
                          facility_id, building_id, grid_code, district_code, service_minutes,
                          due_at, arrive_at, depart_at, late, late_minutes, snap_distance_m,
                          reason_code, reason, geom)
SELECT :plan_id, pr.id, s.seq, s.kind, s.ref, s.label, s.required, s.value, s.report_id,
       s.facility_id, s.building_id, s.grid_code, s.district_code, s.service_minutes, s.due_at,
       s.arrive_at, s.depart_at, s.late, s.late_minutes, s.snap_distance_m, s.reason_code,
       s.reason, ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326)
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS s(
    route_seq integer, seq integer, kind text, ref text, label text, required boolean,
    value float8, report_id bigint, facility_id bigint, building_id bigint, grid_code text,
    district_code text, service_minutes float8, due_at timestamptz, arrive_at timestamptz,
    depart_at timestamptz, late boolean, late_minutes float8, snap_distance_m float8,
    reason_code text, reason text, lon float8, lat float8, k bigint)
LEFT JOIN patrol_routes pr ON pr.plan_id = :plan_id AND pr.seq = s.route_seq
ORDER BY s.k
"""

# Invalid polygons are read through ST_MakeValid in the query only (as topology does).
_POLYGON = "CASE WHEN ST_IsValid({t}.geom) THEN {t}.geom ELSE ST_MakeValid({t}.geom) END"

_ROUTE_GRIDS = f"""
INSERT INTO patrol_route_grids (route_id, grid_code, length_m)
SELECT r.id, g.code, sum(ST_Length(ST_Intersection(r.geom, {_POLYGON.format(t="g")})::geography))
FROM patrol_routes r JOIN grids g ON g.geom && r.geom AND ST_Intersects(g.geom, r.geom)
WHERE r.plan_id = :plan_id
GROUP BY r.id, g.code
"""

_ROUTE_DISTRICTS = f"""
INSERT INTO patrol_route_districts (route_id, district_code, length_m)
SELECT r.id, d.code,
       sum(ST_Length(ST_Intersection(r.geom, {_POLYGON.format(t="d")})::geography))
FROM patrol_routes r JOIN districts d ON d.geom && r.geom AND ST_Intersects(d.geom, r.geom)
WHERE r.plan_id = :plan_id
GROUP BY r.id, d.code
"""


def _store_plan(
    conn: Connection,
    plan: Plan,
    request: PlanRequest,
    *,
    alternative_of: int | None,
    comparison: ComparisonOut | None,
) -> int:
    plan_id = int(
        conn.execute(
            text(
                """
                INSERT INTO patrol_plans (name, mode, objective, start_at, walk_speed_kmh,
                    total_length_m, total_minutes, served, unserved, over_capacity,
                    missing_patroller_hours, alternative_of, request, comparison)
                VALUES (:name, :mode, :objective, :start_at, :speed, :length, :minutes, :served,
                    :unserved, :over_capacity, :missing_hours, :alternative_of,
                    CAST(:request AS jsonb), CAST(:comparison AS jsonb))
                RETURNING id
                """
            ),
            {
                "name": request.name,
                "mode": plan.mode,
                "objective": plan.objective,
                "over_capacity": plan.over_capacity,
                "missing_hours": round(plan.missing_minutes / 60.0, 2),
                "start_at": request.start_at,
                "speed": request.walk_speed_kmh,
                "length": round(plan.total_length_m, 2),
                "minutes": round(plan.total_minutes, 2),
                "served": plan.served,
                "unserved": len(plan.unserved),
                "alternative_of": alternative_of,
                "request": request.model_dump_json(),
                "comparison": None if comparison is None else comparison.model_dump_json(),
            },
        ).scalar_one()
    )
    routes = [
        {
            "seq": seq,
            "name": r.patroller.name,
            "worker_id": r.patroller.worker_id,
            "district_code": r.patroller.district_code,
            "shift_minutes": r.patroller.shift_minutes,
            "length_m": r.length_m,
            "duration_minutes": r.duration_minutes,
            "depart_at": r.depart_at.isoformat(),
            "return_at": r.return_at.isoformat(),
            "start_lon": r.patroller.start[0],
            "start_lat": r.patroller.start[1],
            "end_lon": r.patroller.end[0],
            "end_lat": r.patroller.end[1],
            "geometry": None if r.geometry is None else json.dumps(r.geometry),
        }
        for seq, r in enumerate(plan.routes, start=1)
    ]
    conn.execute(text(_INSERT_ROUTES), {"plan_id": plan_id, "rows": json.dumps(routes)})
    stops = [
        _stop_row(s, seq) for seq, route in enumerate(plan.routes, start=1) for s in route.stops
    ] + [_stop_row(s, None) for s in plan.unserved]
    for k, row in enumerate(stops):
        row["k"] = k
    if stops:
        conn.execute(text(_INSERT_STOPS), {"plan_id": plan_id, "rows": json.dumps(stops)})
    conn.execute(text(_ROUTE_GRIDS), {"plan_id": plan_id})
    conn.execute(text(_ROUTE_DISTRICTS), {"plan_id": plan_id})
    return plan_id


def store_outcome(conn: Connection, outcome: PlanOutcome, request: PlanRequest) -> int:
    """Store the plan (and its alternative, pointing at it); returns the plan's id."""
    plan_id = _store_plan(
        conn, outcome.plan, request, alternative_of=None, comparison=outcome.comparison
    )
    if outcome.alternative is not None:
        _store_plan(
            conn,
            outcome.alternative,
            request,
            alternative_of=plan_id,
            comparison=outcome.comparison,
        )
    return plan_id


# ----------------------------------------------------------------------------- reading
_PLAN = """
SELECT p.id, p.name, p.mode, p.objective, p.start_at, p.created_at, p.walk_speed_kmh,
       p.total_length_m, p.total_minutes, p.served, p.unserved, p.over_capacity,
       p.missing_patroller_hours, p.alternative_of, p.comparison, p.request,
       a.id AS alternative_id, a.mode AS alternative_mode
FROM patrol_plans p
LEFT JOIN LATERAL (
    SELECT a.id, a.mode FROM patrol_plans a WHERE a.alternative_of = p.id ORDER BY a.id LIMIT 1
) a ON true
WHERE p.id = :plan_id
"""

_ROUTES = """
SELECT r.id, r.seq, r.patroller_name, w.code AS worker_code, u.name AS published_to,
       r.published_at, r.district_code, r.shift_minutes,
       r.length_m, r.duration_minutes, r.depart_at, r.return_at,
       ST_AsGeoJSON(r.geom, 7)::json AS geometry,
       ST_X(r.start_geom) AS start_lon, ST_Y(r.start_geom) AS start_lat,
       ST_X(r.end_geom) AS end_lon, ST_Y(r.end_geom) AS end_lat,
       (SELECT coalesce(json_agg(json_build_object('code', d.district_code,
                                                   'length_m', round(d.length_m::numeric, 1))
                                 ORDER BY d.length_m DESC, d.district_code), '[]'::json)
        FROM patrol_route_districts d WHERE d.route_id = r.id) AS districts,
       (SELECT coalesce(json_agg(json_build_object('code', g.grid_code,
                                                   'length_m', round(g.length_m::numeric, 1))
                                 ORDER BY g.grid_code), '[]'::json)
        FROM patrol_route_grids g WHERE g.route_id = r.id) AS grids
FROM patrol_routes r LEFT JOIN workers w ON w.id = r.worker_id
LEFT JOIN users u ON u.id = r.published_to
WHERE r.plan_id = :plan_id
ORDER BY r.seq
"""

_STOPS = """
SELECT s.id, s.route_id, s.seq, s.kind, s.ref, s.label, ST_X(s.geom) AS lon,
       ST_Y(s.geom) AS lat, s.grid_code, s.district_code, s.required, s.value, s.service_minutes,
       s.due_at, s.arrive_at, s.depart_at, s.late, s.late_minutes, s.snap_distance_m,
       s.reason_code, s.reason
FROM patrol_stops s
WHERE s.plan_id = :plan_id
ORDER BY s.route_id NULLS LAST, s.seq, s.id
"""


def _time(value: datetime | None) -> datetime | None:
    """To the second, in the zone the database session reads times in (the configured
    GRIDPATROL_TIMEZONE, ``gis.core.db.use_time_zone``): the same on every route."""
    return None if value is None else value.replace(microsecond=0)


def _at(value: datetime) -> datetime:
    return value.replace(microsecond=0)


def _stop_fields(row: RowMapping) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "kind": StopKind(row["kind"]),
        "ref": row["ref"],
        "label": row["label"],
        "lon": round(float(row["lon"]), 7),
        "lat": round(float(row["lat"]), 7),
        "grid_code": row["grid_code"],
        "district_code": row["district_code"],
        "required": bool(row["required"]),
        "value": round(float(row["value"]), 3),
        "service_minutes": float(row["service_minutes"]),
        "due_at": _time(row["due_at"]),
        "snap_distance_m": (
            None if row["snap_distance_m"] is None else round(float(row["snap_distance_m"]), 1)
        ),
    }


def _served_stop(row: RowMapping) -> StopOut:
    return StopOut(
        **_stop_fields(row),
        seq=int(row["seq"]),
        arrive_at=_at(row["arrive_at"]),
        depart_at=_at(row["depart_at"]),
        late=bool(row["late"]),
        late_minutes=round(float(row["late_minutes"]), 1),
    )


def _unserved_stop(row: RowMapping) -> UnservedOut:
    return UnservedOut(
        **_stop_fields(row),
        reason_code=UnservedCode(row["reason_code"]),
        reason=row["reason"],
    )


def _lonlat(lon: float, lat: float) -> LonLatOut:
    return LonLatOut(lon=round(float(lon), 7), lat=round(float(lat), 7))


def _route(row: RowMapping, stops: list[StopOut]) -> RouteOut:
    districts = list(row["districts"])
    return RouteOut(
        seq=int(row["seq"]),
        patroller=PatrollerOut(
            name=row["patroller_name"], worker=row["worker_code"], district=row["district_code"]
        ),
        shift_minutes=float(row["shift_minutes"]),
        length_m=round(float(row["length_m"]), 1),
        duration_minutes=round(float(row["duration_minutes"]), 1),
        depart_at=_at(row["depart_at"]),
        return_at=_at(row["return_at"]),
        districts=[d["code"] for d in districts],
        district_lengths_m={d["code"]: float(d["length_m"]) for d in districts},
        grids=[GridLengthOut(code=g["code"], length_m=float(g["length_m"])) for g in row["grids"]],
        start=_lonlat(row["start_lon"], row["start_lat"]),
        end=_lonlat(row["end_lon"], row["end_lat"]),
        geometry=None if row["geometry"] is None else LineStringGeometry(**row["geometry"]),
        stops=stops,
        published_to=row["published_to"],
        published_at=_time(row["published_at"]),
    )


def _shares(routes: Sequence[RouteOut]) -> list[ShareOut]:
    """Each patroller's part of the work, and of the longest time away."""
    longest = max((r.duration_minutes for r in routes), default=0.0)
    return [
        ShareOut(
            patroller=r.patroller.name,
            minutes=r.duration_minutes,
            length_m=r.length_m,
            stops=len(r.stops),
            of_longest=round(r.duration_minutes / longest, 3) if longest else 0.0,
        )
        for r in routes
    ]


def get_plan(conn: Connection, plan_id: int) -> PlanOut:
    """A stored plan in the contract's shape; ``NotFound`` when there is none."""
    plan = conn.execute(text(_PLAN), {"plan_id": plan_id}).mappings().one_or_none()
    if plan is None:
        raise NotFound(f"no patrol plan with id {plan_id}")
    by_route: dict[int, list[StopOut]] = {}
    unserved: list[UnservedOut] = []
    for row in conn.execute(text(_STOPS), {"plan_id": plan_id}).mappings():
        if row["route_id"] is None:
            unserved.append(_unserved_stop(row))
        else:
            by_route.setdefault(int(row["route_id"]), []).append(_served_stop(row))
    routes = [
        _route(r, by_route.get(int(r["id"]), []))
        for r in conn.execute(text(_ROUTES), {"plan_id": plan_id}).mappings()
    ]
    return PlanOut(
        id=int(plan["id"]),
        name=plan["name"],
        mode=plan["mode"],
        objective=plan["objective"],
        over_capacity=int(plan["over_capacity"]),
        missing_patroller_hours=float(plan["missing_patroller_hours"]),
        shares=_shares(routes),
        start_at=_at(plan["start_at"]),
        created_at=_at(plan["created_at"]),
        walk_speed_kmh=float(plan["walk_speed_kmh"]),
        total_length_m=round(float(plan["total_length_m"]), 1),
        total_minutes=round(float(plan["total_minutes"]), 1),
        served=int(plan["served"]),
        routes=routes,
        unserved=unserved,
        comparison=(None if plan["comparison"] is None else ComparisonOut(**plan["comparison"])),
        alternative_of=None if plan["alternative_of"] is None else int(plan["alternative_of"]),
        alternative=(
            None
            if plan["alternative_id"] is None
            else AlternativeOut(id=int(plan["alternative_id"]), mode=plan["alternative_mode"])
        ),
    )


def list_plans(
    conn: Connection,
    *,
    limit: int = 100,
    offset: int = 0,
    include_alternatives: bool = False,
    scopes: Sequence[str] | None = None,
    published_to: str | None = None,
) -> PlanPageOut:
    """A page of stored plans, newest first, with their totals (no geometry); with ``scopes``
    (unit-code prefixes, "" the whole city) only plans belonging to a unit they reach
    (``gis.patrols.scope``)."""
    check_page(limit, offset)
    clauses = [] if include_alternatives or published_to else ["p.alternative_of IS NULL"]
    if published_to is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM patrol_routes r JOIN users u ON u.id = r.published_to "
            "WHERE r.plan_id = p.id AND u.name = :published_to)"
        )
    if scopes is not None:
        clauses.append(plan_scope_condition("p.id"))
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    params: dict[str, Any] = {
        "scopes": None if scopes is None else list(scopes),
        "published_to": published_to,
    }
    rows = (
        conn.execute(
            text(
                f"""
            SELECT p.id, p.name, p.mode, p.objective, p.over_capacity, p.start_at,
                   p.created_at, p.total_length_m,
                   p.total_minutes, p.served, p.unserved, p.alternative_of,
                   (SELECT count(*) FROM patrol_routes r WHERE r.plan_id = p.id) AS patrollers,
                   p.comparison -> 'saved_m' AS saved_m
            FROM patrol_plans p {where}
            ORDER BY p.id DESC LIMIT :limit OFFSET :offset
            """
            ),
            params | {"limit": limit, "offset": offset},
        )
        .mappings()
        .all()
    )
    total = conn.execute(text(f"SELECT count(*) FROM patrol_plans p {where}"), params).scalar_one()
    return PlanPageOut(
        plans=[
            PlanSummaryOut(
                id=int(r["id"]),
                name=r["name"],
                mode=r["mode"],
                objective=r["objective"],
                over_capacity=int(r["over_capacity"]),
                start_at=_at(r["start_at"]),
                created_at=_at(r["created_at"]),
                total_length_m=round(float(r["total_length_m"]), 1),
                total_minutes=round(float(r["total_minutes"]), 1),
                served=int(r["served"]),
                unserved=int(r["unserved"]),
                alternative_of=None if r["alternative_of"] is None else int(r["alternative_of"]),
                patrollers=int(r["patrollers"]),
                saved_m=None if r["saved_m"] is None else float(r["saved_m"]),
            )
            for r in rows
        ],
        numberMatched=int(total),
        numberReturned=len(rows),
        limit=limit,
        offset=offset,
    )
