"""Which units a patrol plan belongs to: by right, never by passing through.

A plan *asked for* touches, by right, every unit it names or sends someone to: each
patroller's worker (the grids they serve), start, end and declared district, and every source
of stops — the districts and communities named in ``stops`` (or, when none are, the
patrollers' districts; no district at all is the whole city), each listed building's grid and
each explicit point's grid and district. Planning needs every one of them in the account's
scope (``check_plan_request``).

A plan *stored* belongs to its patrollers' units (their workers' grids and their districts)
and its stops' grids and districts: that is who reads it, maps it and lists it. The grids its
street path merely crosses are not among them (``plan_codes_sql``), and a GPS track is
written by someone reaching the patroller of the route it lands on (``route_codes``).
Codes are matched with the scope rule of ``gis.access.scope`` (a prefix; "" the whole city);
an empty set of codes is reached by the whole city only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

from gis.core.errors import Forbidden, NotFound
from gis.core.vocabulary import CODE_DIGITS, Level
from gis.patrols.request import FacilityRef, LonLat, PlanRequest
from gis.patrols.stops import locate_points

Reaches = Callable[[Iterable[str | None]], bool]


@dataclass(frozen=True)
class Touched:
    """One thing a plan request touches: where it is in the request, and its unit codes."""

    where: str
    codes: tuple[str, ...]
    # The refusal when out of scope (a worker's is the same whether it exists or not).
    refusal: str = "outside the account's scope"


def _worker_grids(conn: Connection, codes: Sequence[str]) -> dict[str, tuple[str, ...]]:
    rows = conn.execute(
        text(
            "SELECT w.code, coalesce(array_agg(wg.grid_code ORDER BY wg.grid_code) "
            "FILTER (WHERE wg.grid_code IS NOT NULL), '{}') "
            "FROM workers w LEFT JOIN worker_grids wg ON wg.worker_id = w.id "
            "WHERE w.code = ANY(CAST(:codes AS text[])) GROUP BY w.code"
        ),
        {"codes": list(codes)},
    ).all()
    return {str(r[0]): tuple(r[1]) for r in rows}


def _feature_codes(
    conn: Connection, table: str, codes: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """Each listed building or facility (``table``) by code: its grid and the district holding
    it. Unknown codes are left out: the planner refuses them with 422, and both layers are
    public, so saying which exist tells nobody anything."""
    rows = conn.execute(
        text(
            f"""
            SELECT t.code, t.grid_code,
                   (SELECT d.code FROM districts d
                    WHERE d.geom && p AND ST_Intersects(d.geom, p) ORDER BY d.code LIMIT 1)
            FROM {table} t CROSS JOIN LATERAL ST_PointOnSurface(t.geom) AS p
            WHERE t.code = ANY(CAST(:codes AS text[]))
            """
        ),
        {"codes": list(codes)},
    ).all()
    return {str(r[0]): tuple(c for c in (r[1], r[2]) if c) for r in rows}


def request_units(conn: Connection, request: PlanRequest) -> list[Touched]:
    """Everything ``request`` touches by right, with its unit codes (a few set-based reads)."""
    patrollers = request.patrollers
    workers = _worker_grids(conn, sorted({p.worker for p in patrollers if p.worker}))
    facilities = _feature_codes(
        conn,
        "facilities",
        sorted(
            {q.facility for p in patrollers for q in (p.start, p.end) if isinstance(q, FacilityRef)}
        ),
    )
    # Patrollers' starts and ends given as points, then the explicit stop points: located in
    # one query. A start or end at a facility has that facility's units (an unknown one is
    # the planner's 422).
    places: list[tuple[str, tuple[float, float]]] = []
    ends: list[Touched] = []
    for i, p in enumerate(patrollers):
        for end, place in (("start", p.start), ("end", p.end)):
            where = f"patrollers[{i}].{end}"
            if isinstance(place, LonLat):
                places.append((where, (place.lon, place.lat)))
            elif isinstance(place, FacilityRef) and place.facility in facilities:
                ends.append(Touched(where, facilities[place.facility]))
    stops = request.stops
    places += [(f"stops.points[{k}]", (q.lon, q.lat)) for k, q in enumerate(stops.points)]
    located = [
        Touched(where, tuple(c for c in codes if c))
        for (where, _), codes in zip(
            places, locate_points(conn, [point for _, point in places]), strict=True
        )
    ]

    touched: list[Touched] = []
    for i, p in enumerate(patrollers):
        if p.worker:
            touched.append(
                Touched(
                    f"patrollers[{i}].worker",
                    workers.get(p.worker, ()),
                    f"no worker with code {p.worker!r} in the account's scope",
                )
            )
        if p.district:
            touched.append(Touched(f"patrollers[{i}].district {p.district}", (p.district,)))
    touched += ends + located
    touched += [Touched(f"stops.districts {code}", (code,)) for code in stops.districts or ()]
    touched += [Touched(f"stops.communities {code}", (code,)) for code in stops.communities or ()]
    buildings = _feature_codes(conn, "buildings", stops.buildings)
    touched += [
        Touched(f"stops.buildings {code}", buildings[code])
        for code in stops.buildings
        if code in buildings
    ]
    # No district named and no patroller in one: the planner takes stops city-wide.
    has_district = any(p.district for p in patrollers) or any(
        len(code) == CODE_DIGITS[Level.DISTRICT]
        for unit in ends + located
        if unit.where.endswith(".start")
        for code in unit.codes
    )
    # Every kind whose stops are drawn from an area (not listed by code or point).
    by_area = (
        stops.open_reports
        or stops.hot_grids is not None
        or stops.stale_grids is not None
        or stops.care_visits is not None
        or bool(stops.facilities)
    )
    if by_area and not (stops.districts or stops.communities or has_district):
        touched.append(Touched("stops (no district named: the whole city)", ()))
    return touched


def check_plan_request(conn: Connection, request: PlanRequest, *, reaches: Reaches) -> None:
    """``Forbidden`` naming the first thing ``request`` touches that ``reaches`` (the
    account's grant) does not reach."""
    for unit in request_units(conn, request):
        if not reaches(unit.codes):
            raise Forbidden(f"{unit.where}: {unit.refusal}")


# ----------------------------------------------------------------------------- stored plans
def plan_codes_sql(plan: str) -> str:
    """SQL: the unit codes the plan with id ``plan`` (an SQL expression) belongs to — its
    patrollers' workers' grids and districts, its stops' grids and districts."""
    return f"""
SELECT wg.grid_code FROM patrol_routes r JOIN worker_grids wg ON wg.worker_id = r.worker_id
      WHERE r.plan_id = {plan}
UNION SELECT r.district_code FROM patrol_routes r WHERE r.plan_id = {plan}
UNION SELECT s.grid_code FROM patrol_stops s WHERE s.plan_id = {plan}
UNION SELECT s.district_code FROM patrol_stops s WHERE s.plan_id = {plan}
"""


def plan_scope_condition(plan: str, *, param: str = "scopes") -> str:
    """SQL: the plan with id ``plan`` belongs to a unit the prefixes ``:param`` reach."""
    return (
        f"EXISTS (SELECT 1 FROM unnest(CAST(:{param} AS text[])) AS s, "
        f"({plan_codes_sql(plan)}) AS c(code) WHERE s = '' OR starts_with(c.code, s))"
    )


def _codes(rows: Iterable[object]) -> tuple[str, ...]:
    return tuple(sorted({str(code) for code in rows if code}))


def plan_codes(conn: Connection, plan_id: int) -> tuple[str, ...]:
    """The unit codes plan ``plan_id`` belongs to (``plan_codes_sql``); ``NotFound`` if none."""
    _check_plan(conn, plan_id)
    return _codes(conn.execute(text(plan_codes_sql(":plan_id")), {"plan_id": plan_id}).scalars())


_ROUTE_CODES = """
SELECT wg.grid_code FROM patrol_routes r JOIN worker_grids wg ON wg.worker_id = r.worker_id
      WHERE r.plan_id = :plan_id AND (CAST(:seq AS integer) IS NULL OR r.seq = :seq)
UNION SELECT r.district_code FROM patrol_routes r
      WHERE r.plan_id = :plan_id AND (CAST(:seq AS integer) IS NULL OR r.seq = :seq)
"""


def route_codes(conn: Connection, plan_id: int, route_seq: int | None = None) -> tuple[str, ...]:
    """The units of the patroller of route ``route_seq`` of the plan (None: of any of its
    patrollers): their worker's grids and their district. ``NotFound`` for an unknown plan."""
    _check_plan(conn, plan_id)
    rows = conn.execute(text(_ROUTE_CODES), {"plan_id": plan_id, "seq": route_seq}).scalars()
    return _codes(rows)


def check_route(conn: Connection, plan_id: int, route_seq: int | None, *, reaches: Reaches) -> None:
    """``Forbidden`` unless ``reaches`` the patroller of route ``route_seq`` (None: the track
    follows no route; then any of the plan's patrollers)."""
    if not reaches(route_codes(conn, plan_id, route_seq)):
        which = "the plan's patrollers" if route_seq is None else f"route {route_seq}'s patroller"
        raise Forbidden(f"out of scope: the account does not reach {which}")


def _check_plan(conn: Connection, plan_id: int) -> None:
    if not conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM patrol_plans WHERE id = :plan_id)"),
        {"plan_id": plan_id},
    ).scalar_one():
        raise NotFound(f"no patrol plan with id {plan_id}")
