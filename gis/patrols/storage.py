"""Plans stored in PostGIS and read back in the contract's JSON shape.

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

from sqlalchemy import Connection, Engine, text

from gis.core.errors import NotFound
from gis.patrols.planning import Plan, PlannedStop, PlanOutcome, plan_patrols
from gis.patrols.request import PlanRequest
from gis.reports.categories import Category
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
        "reason": plan_stop.reason,
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
                          reason, geom)
SELECT :plan_id, pr.id, s.seq, s.kind, s.ref, s.label, s.required, s.value, s.report_id,
       s.facility_id, s.building_id, s.grid_code, s.district_code, s.service_minutes, s.due_at,
       s.arrive_at, s.depart_at, s.late, s.late_minutes, s.snap_distance_m, s.reason,
       ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326)
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS s(
    route_seq integer, seq integer, kind text, ref text, label text, required boolean,
    value float8, report_id bigint, facility_id bigint, building_id bigint, grid_code text,
    district_code text, service_minutes float8, due_at timestamptz, arrive_at timestamptz,
    depart_at timestamptz, late boolean, late_minutes float8, snap_distance_m float8,
    reason text, lon float8, lat float8, k bigint)
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
    comparison: dict[str, Any] | None,
) -> int:
    plan_id = int(
        conn.execute(
            text(
                """
                INSERT INTO patrol_plans (name, mode, start_at, walk_speed_kmh, total_length_m,
                    total_minutes, served, unserved, alternative_of, request, comparison)
                VALUES (:name, :mode, :start_at, :speed, :length, :minutes, :served, :unserved,
                    :alternative_of, CAST(:request AS jsonb), CAST(:comparison AS jsonb))
                RETURNING id
                """
            ),
            {
                "name": request.name,
                "mode": plan.mode,
                "start_at": request.start_at,
                "speed": request.walk_speed_kmh,
                "length": round(plan.total_length_m, 2),
                "minutes": round(plan.total_minutes, 2),
                "served": plan.served,
                "unserved": len(plan.unserved),
                "alternative_of": alternative_of,
                "request": request.model_dump_json(),
                "comparison": None if comparison is None else json.dumps(comparison),
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
SELECT p.id, p.name, p.mode, p.start_at, p.created_at, p.walk_speed_kmh, p.total_length_m,
       p.total_minutes, p.served, p.unserved, p.alternative_of, p.comparison,
       (SELECT a.id FROM patrol_plans a WHERE a.alternative_of = p.id ORDER BY a.id LIMIT 1),
       (SELECT a.mode FROM patrol_plans a WHERE a.alternative_of = p.id ORDER BY a.id LIMIT 1),
       p.request
FROM patrol_plans p WHERE p.id = :plan_id
"""

_ROUTES = """
SELECT r.id, r.seq, r.patroller_name, w.code, r.district_code, r.shift_minutes, r.length_m,
       r.duration_minutes, r.depart_at, r.return_at, ST_AsGeoJSON(r.geom, 7)::json,
       ST_X(r.start_geom), ST_Y(r.start_geom), ST_X(r.end_geom), ST_Y(r.end_geom),
       (SELECT coalesce(json_agg(json_build_object('code', d.district_code,
                                                   'length_m', round(d.length_m::numeric, 1))
                                 ORDER BY d.length_m DESC, d.district_code), '[]'::json)
        FROM patrol_route_districts d WHERE d.route_id = r.id),
       (SELECT coalesce(json_agg(json_build_object('code', g.grid_code,
                                                   'length_m', round(g.length_m::numeric, 1))
                                 ORDER BY g.grid_code), '[]'::json)
        FROM patrol_route_grids g WHERE g.route_id = r.id)
FROM patrol_routes r LEFT JOIN workers w ON w.id = r.worker_id
WHERE r.plan_id = :plan_id
ORDER BY r.seq
"""

_STOPS = """
SELECT s.route_id, s.seq, s.kind, s.ref, s.label, ST_X(s.geom), ST_Y(s.geom), s.grid_code,
       s.district_code, s.required, s.value, s.service_minutes, s.due_at, s.arrive_at,
       s.depart_at, s.late, s.late_minutes, s.snap_distance_m, s.reason, s.id
FROM patrol_stops s
WHERE s.plan_id = :plan_id
ORDER BY s.route_id NULLS LAST, s.seq, s.id
"""


def _time(value: datetime | None) -> str | None:
    """ISO 8601 to the second, in the zone the database session reads times in (the
    configured GRIDPATROL_TIMEZONE, ``gis.core.db.use_time_zone``): the same on every route."""
    return None if value is None else value.isoformat(timespec="seconds")


def _stop_json(row: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": int(row[19]),
        "kind": row[2],
        "ref": row[3],
        "label": row[4],
        "lon": round(float(row[5]), 7),
        "lat": round(float(row[6]), 7),
        "grid_code": row[7],
        "district_code": row[8],
        "required": bool(row[9]),
        "value": round(float(row[10]), 3),
        "service_minutes": float(row[11]),
        "due_at": _time(row[12]),
        "snap_distance_m": None if row[17] is None else round(float(row[17]), 1),
    }
    if row[0] is None:
        body["reason"] = row[18]
        return body
    return {
        "seq": int(row[1]),
        **body,
        "arrive_at": _time(row[13]),
        "depart_at": _time(row[14]),
        "late": bool(row[15]),
        "late_minutes": round(float(row[16]), 1),
    }


def get_plan(conn: Connection, plan_id: int) -> dict[str, Any]:
    """A stored plan in the contract's shape; ``NotFound`` when there is none."""
    plan = conn.execute(text(_PLAN), {"plan_id": plan_id}).one_or_none()
    if plan is None:
        raise NotFound(f"no patrol plan with id {plan_id}")
    stops = conn.execute(text(_STOPS), {"plan_id": plan_id}).all()
    by_route: dict[int, list[dict[str, Any]]] = {}
    unserved: list[dict[str, Any]] = []
    for row in stops:
        if row[0] is None:
            unserved.append(_stop_json(row))
        else:
            by_route.setdefault(int(row[0]), []).append(_stop_json(row))
    routes = []
    for r in conn.execute(text(_ROUTES), {"plan_id": plan_id}).all():
        districts = list(r[15])
        routes.append(
            {
                "seq": int(r[1]),
                "patroller": {"name": r[2], "worker": r[3], "district": r[4]},
                "shift_minutes": float(r[5]),
                "length_m": round(float(r[6]), 1),
                "duration_minutes": round(float(r[7]), 1),
                "depart_at": _time(r[8]),
                "return_at": _time(r[9]),
                "districts": [d["code"] for d in districts],
                "district_lengths_m": {d["code"]: float(d["length_m"]) for d in districts},
                "grids": [{"code": g["code"], "length_m": float(g["length_m"])} for g in r[16]],
                "start": {"lon": round(float(r[11]), 7), "lat": round(float(r[12]), 7)},
                "end": {"lon": round(float(r[13]), 7), "lat": round(float(r[14]), 7)},
                "geometry": r[10],
                "stops": by_route.get(int(r[0]), []),
            }
        )
    return {
        "id": int(plan[0]),
        "name": plan[1],
        "mode": plan[2],
        "start_at": _time(plan[3]),
        "created_at": _time(plan[4]),
        "walk_speed_kmh": float(plan[5]),
        "total_length_m": round(float(plan[6]), 1),
        "total_minutes": round(float(plan[7]), 1),
        "served": int(plan[8]),
        "routes": routes,
        "unserved": unserved,
        "comparison": plan[11],
        "alternative_of": None if plan[10] is None else int(plan[10]),
        "alternative": None if plan[12] is None else {"id": int(plan[12]), "mode": plan[13]},
    }


# The unit codes a plan touches: its patrollers' districts, the grids its routes pass and its
# stops' grids and districts. Access scope is matched against them (``gis.access.scope``).
_PLAN_CODES = """
SELECT r.district_code FROM patrol_routes r WHERE r.plan_id = {plan}
UNION SELECT rg.grid_code FROM patrol_route_grids rg
      JOIN patrol_routes r ON r.id = rg.route_id WHERE r.plan_id = {plan}
UNION SELECT s.grid_code FROM patrol_stops s WHERE s.plan_id = {plan}
UNION SELECT s.district_code FROM patrol_stops s WHERE s.plan_id = {plan}
"""


def plan_codes(conn: Connection, plan_id: int) -> tuple[str, ...]:
    """The unit codes plan ``plan_id`` touches (see ``_PLAN_CODES``); ``NotFound`` if none."""
    if not conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM patrol_plans WHERE id = :plan_id)"),
        {"plan_id": plan_id},
    ).scalar_one():
        raise NotFound(f"no patrol plan with id {plan_id}")
    codes = conn.execute(text(_PLAN_CODES.format(plan=":plan_id")), {"plan_id": plan_id})
    return tuple(sorted(str(code) for code in codes.scalars() if code))


def list_plans(
    conn: Connection,
    *,
    limit: int = 100,
    offset: int = 0,
    include_alternatives: bool = False,
    scopes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """A page of stored plans, newest first, with their totals (no geometry); with ``scopes``
    (unit-code prefixes, "" the whole city) only plans touching a unit they reach."""
    check_page(limit, offset)
    clauses = [] if include_alternatives else ["p.alternative_of IS NULL"]
    if scopes is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM unnest(CAST(:scopes AS text[])) AS s, "
            f"({_PLAN_CODES.format(plan='p.id')}) AS c(code) "
            "WHERE s = '' OR starts_with(c.code, s))"
        )
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    params: dict[str, Any] = {"scopes": None if scopes is None else list(scopes)}
    rows = conn.execute(
        text(
            f"""
            SELECT p.id, p.name, p.mode, p.start_at, p.created_at, p.total_length_m,
                   p.total_minutes, p.served, p.unserved, p.alternative_of,
                   (SELECT count(*) FROM patrol_routes r WHERE r.plan_id = p.id),
                   p.comparison -> 'saved_m'
            FROM patrol_plans p {where}
            ORDER BY p.id DESC LIMIT :limit OFFSET :offset
            """
        ),
        params | {"limit": limit, "offset": offset},
    ).all()
    total = conn.execute(text(f"SELECT count(*) FROM patrol_plans p {where}"), params).scalar_one()
    return {
        "plans": [
            {
                "id": int(r[0]),
                "name": r[1],
                "mode": r[2],
                "start_at": _time(r[3]),
                "created_at": _time(r[4]),
                "total_length_m": round(float(r[5]), 1),
                "total_minutes": round(float(r[6]), 1),
                "served": int(r[7]),
                "unserved": int(r[8]),
                "alternative_of": None if r[9] is None else int(r[9]),
                "patrollers": int(r[10]),
                "saved_m": None if r[11] is None else float(r[11]),
            }
            for r in rows
        ],
        "numberMatched": int(total),
        "numberReturned": len(rows),
        "limit": limit,
        "offset": offset,
    }


def create_patrol_plan(
    engine: Engine, request: PlanRequest, *, categories: dict[str, Category]
) -> dict[str, Any]:
    """Plan (reading only), then store in one transaction; returns the stored plan.

    The solver's time budget is spent outside the writing transaction, so a slow plan holds
    no locks; a failure before the store writes nothing.
    """
    with engine.connect() as conn:
        outcome = plan_patrols(conn, request, categories=categories)
    with engine.begin() as conn:
        plan_id = store_outcome(conn, outcome, request)
        return get_plan(conn, plan_id)
