"""Patrol planning: patrollers and stops snapped to the streets, one pgRouting matrix, PyVRP.

The steps of a plan (``gis.patrols.service.plan_patrols`` runs them), for a ``PlanRequest``:

1. resolves each patroller (start/end point or facility, worker, district — by default the
   district holding the start) and snaps starts and ends onto the street network;
2. gathers the stops (every kind of ``gis.patrols.kinds.STOP_KINDS`` the request chooses) and
   snaps them onto the components the patrollers stand on; a stop with no such street
   within ``max_snap_m`` is unserved, with the reason;
3. computes every walking distance in ONE ``pgr_withPointsCostMatrix`` call; durations are
   metres over the walking speed, and a stop's service time includes the walk from its street
   to it and back (``snap_distance_m`` both ways), which route lengths do not count;
4. per mode, drops stops no allowed patroller could reach and return from within the shift
   and the walking limit (unserved, with the reason), solves the rest with PyVRP and
   schedules the routes: arrival, departure, lateness against each deadline;
5. draws each route along the streets (ONE ``pgr_withPoints`` call per mode).

With ``compare`` both modes are solved on the same stops and matrix and the difference is
reported: metres saved and stops gained by joint patrolling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, NewType

import numpy as np
from sqlalchemy import Connection, text

from gis.core.errors import InvalidInput
from gis.core.timewindow import check_window
from gis.patrols.answer import ComparisonOut, ModeTotals
from gis.patrols.balance import solve_balanced
from gis.patrols.kinds import gather_stops
from gis.patrols.reasons import Unserved, UnservedCode
from gis.patrols.request import FacilityRef, LonLat, Mode, PatrollerIn, PlanRequest
from gis.patrols.solver import RouteSolution, Vehicle, Visit, solve_routes
from gis.patrols.stops import GatherContext, Scope, Stop, locate_points
from gis.reports.categories import Category
from gis.routing.matrix import FloatMatrix, cost_matrix, street_paths
from gis.routing.network import has_network
from gis.routing.snapping import SnappedPoint, snap_points

# Index types: a stop's position in ``PatrolProblem.stops``; a row of the distance matrix; a
# reachable stop's position in ``PatrolProblem.stop_of``; a visit's position in what one mode
# hands the solver (``SolverInput.visits``).
StopIndex = NewType("StopIndex", int)
Location = NewType("Location", int)
Reachable = NewType("Reachable", int)
Candidate = NewType("Candidate", int)


@dataclass(frozen=True)
class Patroller:
    """A patroller as planned: resolved places, worker and district."""

    name: str
    start: tuple[float, float]
    end: tuple[float, float]
    shift_minutes: float
    district_code: str | None
    worker_id: int | None = None
    max_walk_m: float | None = None
    worker_code: str | None = None
    start_facility: str | None = None
    end_facility: str | None = None


@dataclass(frozen=True)
class PlannedStop:
    """A stop with where it meets the street and, once planned, its visit or its reason."""

    stop: Stop
    snap_distance_m: float | None = None
    seq: int | None = None
    # Position in the plan's list of stops (joins a visit back to its street point).
    index: StopIndex = StopIndex(-1)
    arrive_at: datetime | None = None
    depart_at: datetime | None = None
    late: bool = False
    late_minutes: float = 0.0
    reason: Unserved | None = None


@dataclass(frozen=True)
class PlannedRoute:
    """One patroller's route: its stops in order, length, times and street geometry."""

    patroller: Patroller
    stops: list[PlannedStop]
    length_m: float
    duration_minutes: float
    depart_at: datetime
    return_at: datetime
    geometry: dict[str, Any] | None = None


@dataclass(frozen=True)
class Plan:
    """A solved plan in one mode."""

    mode: str
    routes: list[PlannedRoute]
    unserved: list[PlannedStop]
    solver: dict[str, Any] = field(default_factory=dict)
    objective: str = "balanced"
    # Required stops the team has no time for: estimated patroller-minutes they would take.
    missing_minutes: float = 0.0

    @property
    def over_capacity(self) -> int:
        """Required stops left out because the shifts are full."""
        return sum(
            1
            for s in self.unserved
            if s.reason is not None and s.reason.code == UnservedCode.OVER_CAPACITY
        )

    @property
    def total_length_m(self) -> float:
        return sum(r.length_m for r in self.routes)

    @property
    def total_minutes(self) -> float:
        return sum(r.duration_minutes for r in self.routes)

    @property
    def served(self) -> int:
        return sum(len(r.stops) for r in self.routes)


@dataclass(frozen=True)
class PlanOutcome:
    """The plan asked for, and with ``compare`` the other mode's plan and the comparison."""

    plan: Plan
    alternative: Plan | None = None
    comparison: ComparisonOut | None = None


# ----------------------------------------------------------------------------- patrollers
def _facility_points(conn: Connection, codes: set[str]) -> dict[str, tuple[float, float]]:
    if not codes:
        return {}
    rows = conn.execute(
        text(
            "SELECT code, ST_X(geom), ST_Y(geom) FROM facilities "
            "WHERE code = ANY(CAST(:codes AS text[]))"
        ),
        {"codes": sorted(codes)},
    ).all()
    return {r[0]: (float(r[1]), float(r[2])) for r in rows}


def _place(
    place: LonLat | FacilityRef, facilities: dict[str, tuple[float, float]], where: str
) -> tuple[tuple[float, float], str | None]:
    if isinstance(place, LonLat):
        return (place.lon, place.lat), None
    if place.facility not in facilities:
        raise InvalidInput(f"{where}: no facility with code {place.facility!r}")
    return facilities[place.facility], place.facility


def resolve_patrollers(conn: Connection, patrollers: Sequence[PatrollerIn]) -> list[Patroller]:
    """Places, workers and districts of the request's patrollers (a few set-based lookups)."""
    facility_codes = {
        p.facility for q in patrollers for p in (q.start, q.end) if isinstance(p, FacilityRef)
    }
    facilities = _facility_points(conn, facility_codes)
    worker_codes = sorted({p.worker for p in patrollers if p.worker})
    workers: dict[str, int] = dict(
        conn.execute(
            text("SELECT code, id FROM workers WHERE code = ANY(CAST(:codes AS text[]))"),
            {"codes": worker_codes},
        ).all()
    )
    named_districts = sorted({p.district for p in patrollers if p.district})
    known_districts = set(
        conn.execute(
            text("SELECT code FROM districts WHERE code = ANY(CAST(:codes AS text[]))"),
            {"codes": named_districts},
        ).scalars()
    )
    resolved: list[
        tuple[PatrollerIn, tuple[float, float], str | None, tuple[float, float], str | None]
    ]
    resolved = []
    for i, p in enumerate(patrollers):
        where = f"patrollers[{i}] ({p.name})"
        if p.worker and p.worker not in workers:
            raise InvalidInput(f"{where}.worker: no worker with code {p.worker!r}")
        if p.district and p.district not in known_districts:
            raise InvalidInput(f"{where}.district: no district with code {p.district!r}")
        start, start_facility = _place(p.start, facilities, f"{where}.start")
        end, end_facility = (
            (start, start_facility) if p.end is None else _place(p.end, facilities, f"{where}.end")
        )
        resolved.append((p, start, start_facility, end, end_facility))
    holding = [district for _, district in locate_points(conn, [r[1] for r in resolved])]
    return [
        Patroller(
            name=p.name,
            start=start,
            end=end,
            shift_minutes=p.shift_minutes,
            max_walk_m=None if p.max_walk_km is None else p.max_walk_km * 1000.0,
            district_code=p.district or district,
            worker_id=int(workers[p.worker]) if p.worker else None,
            worker_code=p.worker,
            start_facility=start_facility,
            end_facility=end_facility,
        )
        for (p, start, start_facility, end, end_facility), district in zip(
            resolved, holding, strict=True
        )
    ]


# ----------------------------------------------------------------------------- snapping
def _snap_depots(
    conn: Connection, patrollers: Sequence[Patroller], *, max_snap_m: float
) -> list[SnappedPoint]:
    """Starts and ends (2 per patroller, in order) on the network; 422 when one is too far."""
    places = [pt for p in patrollers for pt in (p.start, p.end)]
    snapped = snap_points(conn, places)
    for k, point in enumerate(snapped):
        if point.edge_id is None:
            raise InvalidInput(
                "no street network: import a roads layer (gridpatrol load FILE --layer roads)"
            )
        if point.distance_m > max_snap_m:
            p = patrollers[k // 2]
            which = "start" if k % 2 == 0 else "end"
            raise InvalidInput(
                f"patroller {p.name}: the {which} ({point.lon:.6f}, {point.lat:.6f}) lies "
                f"{point.distance_m:,.0f} m from the nearest street (at most {max_snap_m:g} m)"
            )
    return snapped


def _unreachable_reason(
    far: SnappedPoint, nearest_any: SnappedPoint, max_snap_m: float
) -> Unserved:
    if nearest_any.edge_id is not None and nearest_any.distance_m <= max_snap_m:
        return Unserved(
            UnservedCode.OTHER_COMPONENT,
            f"unreachable: its nearest street ({nearest_any.distance_m:,.0f} m away) belongs to "
            f"street network component {nearest_any.component}, which no patroller's start is "
            f"connected to"
            + (
                f"; the connected network is {far.distance_m:,.0f} m away"
                if np.isfinite(far.distance_m)
                else ""
            ),
        )
    distance = (
        f"{nearest_any.distance_m:,.0f} m" if np.isfinite(nearest_any.distance_m) else "no street"
    )
    return Unserved(
        UnservedCode.NO_STREET,
        f"unreachable: no street within {max_snap_m:g} m (nearest: {distance})",
    )


def _snap_stops(
    conn: Connection, stops: Sequence[Stop], *, components: Sequence[int], max_snap_m: float
) -> tuple[list[SnappedPoint | None], dict[StopIndex, Unserved]]:
    """Each stop's street point on the patrollers' components, or why it has none."""
    places = [(s.lon, s.lat) for s in stops]
    snapped = snap_points(conn, places, components=components)
    far = [
        StopIndex(k)
        for k, p in enumerate(snapped)
        if p.edge_id is None or p.distance_m > max_snap_m
    ]
    reasons: dict[StopIndex, Unserved] = {}
    if far:
        anywhere = snap_points(conn, [places[k] for k in far])
        for k, nearest in zip(far, anywhere, strict=True):
            reasons[k] = _unreachable_reason(snapped[k], nearest, max_snap_m)
    return [None if k in reasons else p for k, p in enumerate(snapped)], reasons


# ----------------------------------------------------------------------------- one mode
@dataclass(frozen=True)
class PatrolProblem:
    """Everything both modes share: patrollers, stops, points and the matrix."""

    request: PlanRequest
    patrollers: list[Patroller]
    depots: list[SnappedPoint]
    stops: list[Stop]
    snapped: list[SnappedPoint | None]
    unreachable: dict[StopIndex, Unserved]
    # Locations (matrix rows; pid = location + 1): 2 per patroller (start, end), then the
    # reachable stops in ``stop_of``'s order.
    points: list[SnappedPoint]
    stop_of: list[StopIndex]
    distance_m: FloatMatrix

    @property
    def speed_mps(self) -> float:
        return self.request.walk_speed_kmh * 1000.0 / 3600.0

    def location_of(self, stop_index: StopIndex) -> Location:
        snapped = self.snapped[stop_index]
        assert snapped is not None, "only reachable stops have a location"
        return Location(snapped.pid - 1)


def _snap_m(snapped: SnappedPoint | None) -> float | None:
    return None if snapped is None else round(snapped.distance_m, 2)


def _access_s(problem: PatrolProblem, snapped: SnappedPoint | None) -> float:
    return 0.0 if snapped is None else snapped.distance_m / problem.speed_mps


def _vehicle(problem: PatrolProblem, i: int, allowed: frozenset[int] | None) -> Vehicle:
    p = problem.patrollers[i]
    start_access = _access_s(problem, problem.depots[2 * i])
    end_access = _access_s(problem, problem.depots[2 * i + 1])
    return Vehicle(
        start=2 * i,
        end=2 * i + 1,
        ready_s=start_access,
        latest_end_s=p.shift_minutes * 60.0 - end_access,
        allowed=allowed,
        max_distance_m=p.max_walk_m,
    )


def _visit(problem: PatrolProblem, k: StopIndex) -> Visit:
    stop = problem.stops[k]
    snapped = problem.snapped[k]
    access = _access_s(problem, snapped)
    due_s = (
        None
        if stop.due_at is None
        else (stop.due_at - problem.request.start_at).total_seconds() - access
    )
    return Visit(
        location=problem.location_of(k),
        service_s=stop.service_minutes * 60.0 + 2 * access,
        required=stop.required,
        value=stop.value,
        due_s=due_s,
    )


def _may_serve(problem: PatrolProblem, mode: Mode, i: int, k: StopIndex) -> bool:
    if mode == "joint":
        return True
    district = problem.patrollers[i].district_code
    return district is not None and problem.stops[k].district_code == district


def _district_reason(problem: PatrolProblem, k: StopIndex) -> Unserved:
    district = problem.stops[k].district_code
    if district is None:
        return Unserved(
            UnservedCode.OUT_OF_DISTRICT,
            "by_district: the stop lies in no district, so no district's patroller may serve it",
        )
    return Unserved(
        UnservedCode.OUT_OF_DISTRICT,
        f"by_district: no patroller of district {district} (the district holding the stop)",
    )


def _round_trip_m(problem: PatrolProblem, vehicle: Vehicle, visit: Visit) -> float:
    """Street metres of the shortest round trip start → stop → end (``inf``: not connected)."""
    d = problem.distance_m
    return float(d[vehicle.start, visit.location] + d[visit.location, vehicle.end])


def _fits(problem: PatrolProblem, vehicle: Vehicle, visit: Visit) -> float:
    """Seconds of the shortest round trip start → stop → end (``inf`` when not connected)."""
    walk = _round_trip_m(problem, vehicle, visit)
    return float(vehicle.ready_s + walk / problem.speed_mps + visit.service_s)


def _walk_allows(vehicle: Vehicle, metres: float) -> bool:
    return vehicle.max_distance_m is None or metres <= vehicle.max_distance_m


@dataclass(frozen=True)
class SolverInput:
    """What the solver is given in one mode: the stops it may plan (``candidates``, positions
    in ``problem.stop_of``), their visits, the vehicles, and why the others were left out."""

    vehicles: list[Vehicle]
    visits: list[Visit]
    candidates: list[Reachable]
    reasons: dict[StopIndex, Unserved]
    duration_s: FloatMatrix


def _alone_reason(
    problem: PatrolProblem,
    k: StopIndex,
    visit: Visit,
    vehicles: Sequence[Vehicle],
    allowed: Sequence[int],
) -> Unserved | None:
    """Why no allowed patroller could serve stop ``k`` even if it were its only stop (None:
    one could)."""
    needs = [_fits(problem, vehicles[i], visit) for i in allowed]
    if not any(np.isfinite(t) for t in needs):
        return Unserved(
            UnservedCode.NOT_CONNECTED,
            "unreachable: its street is not connected to the start of any patroller "
            "allowed to serve it",
        )
    best = min(range(len(allowed)), key=lambda a: needs[a])
    i = allowed[best]
    if needs[best] > vehicles[i].latest_end_s:
        return Unserved(
            UnservedCode.SHIFT_TOO_SHORT,
            "no shift is long enough: the quickest round trip to it "
            f"({problem.patrollers[i].name}, with {problem.stops[k].service_minutes:g} min "
            f"on site) takes {needs[best] / 60:,.0f} min of a "
            f"{problem.patrollers[i].shift_minutes:g}-min shift",
        )
    in_time = [
        allowed[a] for a in range(len(allowed)) if needs[a] <= vehicles[allowed[a]].latest_end_s
    ]
    walks = {i: _round_trip_m(problem, vehicles[i], visit) for i in in_time}
    if any(_walk_allows(vehicles[i], walks[i]) for i in in_time):
        return None
    shortest = min(in_time, key=lambda i: walks[i])
    p = problem.patrollers[shortest]
    return Unserved(
        UnservedCode.BEYOND_WALK_LIMIT,
        f"beyond every walking limit: the shortest round trip to it ({p.name}) is "
        f"{walks[shortest] / 1000:,.2f} km, over {p.name}'s {(p.max_walk_m or 0) / 1000:g} km",
    )


def solver_input(problem: PatrolProblem, mode: Mode) -> SolverInput:
    """Vehicles and visits for ``mode``; stops no allowed patroller can reach and return from
    within the shift and walking limit are left out with the reason (the solver would only
    drop them)."""
    n_patrollers = len(problem.patrollers)
    visits = [_visit(problem, k) for k in problem.stop_of]
    allowed_sets = [
        frozenset(j for j, k in enumerate(problem.stop_of) if _may_serve(problem, mode, i, k))
        for i in range(n_patrollers)
    ]
    vehicles = [
        _vehicle(problem, i, None if mode == "joint" else allowed_sets[i])
        for i in range(n_patrollers)
    ]
    reasons: dict[StopIndex, Unserved] = dict(problem.unreachable)
    candidates: list[Reachable] = []
    for j, k in enumerate(problem.stop_of):
        allowed = [i for i in range(n_patrollers) if j in allowed_sets[i]]
        reason = (
            _district_reason(problem, k)
            if not allowed
            else _alone_reason(problem, k, visits[j], vehicles, allowed)
        )
        if reason is None:
            candidates.append(Reachable(j))
        else:
            reasons[k] = reason
    # The solver sees only the candidates; locations stay as they are.
    index_of = {j: c for c, j in enumerate(candidates)}
    return SolverInput(
        vehicles=[
            replace(
                v,
                allowed=None
                if v.allowed is None
                else frozenset(index_of[Reachable(j)] for j in v.allowed if j in index_of),
            )
            for v in vehicles
        ],
        visits=[visits[j] for j in candidates],
        candidates=candidates,
        reasons=reasons,
        duration_s=problem.distance_m / problem.speed_mps,
    )


def _left_out(stop: Stop) -> Unserved:
    """Why a stop that some shift could reach is left out: the others took the time."""
    if stop.required:
        return Unserved(
            UnservedCode.OVER_CAPACITY,
            "shifts are full: no patroller has time or walking distance left for it",
        )
    return Unserved(
        UnservedCode.LESS_VALUABLE,
        "shifts are full: the stops served were worth more or lay nearer",
    )


# A mode's plan for the next mode to start from: per patroller, (position in
# ``problem.stop_of``, the solver's copy served: 0 on time, then the steps of lateness).
StopOrder = list[list[tuple[Reachable, int]]]


def solve_mode(
    problem: PatrolProblem,
    mode: Mode,
    *,
    time_limit_s: float | None = None,
    warm_start: StopOrder | None = None,
) -> Plan:
    """Solve one mode with PyVRP (``time_limit_s`` defaults to the request's) and schedule it;
    ``warm_start`` is another mode's :func:`stop_order` to start the search from."""
    return solve_mode_ordered(problem, mode, time_limit_s=time_limit_s, warm_start=warm_start)[0]


def solve_mode_ordered(
    problem: PatrolProblem,
    mode: Mode,
    *,
    time_limit_s: float | None = None,
    warm_start: StopOrder | None = None,
) -> tuple[Plan, StopOrder]:
    """:func:`solve_mode`, and the plan's stop order for another mode to start from."""
    given = solver_input(problem, mode)
    candidate_of = {j: Candidate(c) for c, j in enumerate(given.candidates)}
    solve = solve_balanced if problem.request.objective == "balanced" else solve_routes
    solution = solve(
        lonlat=[(p.lon, p.lat) for p in problem.points],
        distance_m=problem.distance_m,
        duration_s=given.duration_s,
        vehicles=given.vehicles,
        visits=given.visits,
        time_limit_s=problem.request.time_limit_s if time_limit_s is None else time_limit_s,
        seed=problem.request.seed,
        warm_start=(
            None
            if warm_start is None
            else [
                [(candidate_of[j], copy) for j, copy in route if j in candidate_of]
                for route in warm_start
            ]
        ),
    )
    order: StopOrder = [
        [(given.candidates[c], copy) for c, copy in zip(route, copies, strict=True)]
        for route, copies in zip(solution.routes, solution.copies, strict=True)
    ]
    reasons = dict(given.reasons)
    routes = [[problem.stop_of[given.candidates[c]] for c in route] for route in solution.routes]
    for c in solution.unassigned:
        k = problem.stop_of[given.candidates[c]]
        reasons[k] = _left_out(problem.stops[k])
    # The schedule checks shifts against the vehicles as the solver saw them (same windows).
    return schedule_routes(problem, mode, routes, reasons, solution, given.vehicles), order


@dataclass(frozen=True)
class _Walk:
    """One route walked in order: its visits, metres and seconds (start to end)."""

    visits: list[PlannedStop]
    length_m: float
    seconds: float


def _walk(problem: PatrolProblem, i: int, vehicle: Vehicle, order: Sequence[StopIndex]) -> _Walk:
    """Patroller ``i`` walking ``order``: arrival, departure and lateness at each stop."""
    d = problem.distance_m
    start_at = problem.request.start_at
    t = vehicle.ready_s
    here = vehicle.start
    length = 0.0
    visits: list[PlannedStop] = []
    for seq, k in enumerate(order, start=1):
        loc = problem.location_of(k)
        length += float(d[here, loc])
        t += float(d[here, loc]) / problem.speed_mps
        access = _access_s(problem, problem.snapped[k])
        stop = problem.stops[k]
        arrive = start_at + timedelta(seconds=t + access)
        late_minutes = (
            max(0.0, (arrive - stop.due_at).total_seconds() / 60.0)
            if stop.due_at is not None
            else 0.0
        )
        visits.append(
            PlannedStop(
                stop=stop,
                index=k,
                snap_distance_m=round(access * problem.speed_mps, 2),
                seq=seq,
                arrive_at=arrive,
                depart_at=arrive + timedelta(minutes=stop.service_minutes),
                late=late_minutes > 0,
                late_minutes=round(late_minutes, 2),
            )
        )
        t += stop.service_minutes * 60.0 + 2 * access
        here = loc
    length += float(d[here, vehicle.end])
    t += float(d[here, vehicle.end]) / problem.speed_mps
    t += _access_s(problem, problem.depots[2 * i + 1])
    return _Walk(visits, length, t)


def _scheduled_route(
    problem: PatrolProblem,
    i: int,
    vehicle: Vehicle,
    order: list[StopIndex],
    reasons: dict[StopIndex, Unserved],
) -> PlannedRoute:
    """Patroller ``i``'s route, cutting its least valuable stops while it overruns the shift
    or the walking limit (adding them to ``reasons``)."""
    patroller = problem.patrollers[i]
    while True:
        walk = _walk(problem, i, vehicle, order)
        # The solver's metres are whole: a route may exceed its limit by rounding, half a
        # metre a leg, and no more.
        walk_ok = _walk_allows(vehicle, walk.length_m - 0.5 * (len(order) + 1))
        if (walk.seconds <= patroller.shift_minutes * 60.0 + 1e-6 and walk_ok) or not order:
            break
        dropped = min(order, key=lambda k: (problem.stops[k].required, problem.stops[k].value))
        reasons[dropped] = _left_out(problem.stops[dropped])
        order = [k for k in order if k != dropped]
    seconds, length = walk.seconds, walk.length_m
    if not order and patroller.start == patroller.end:
        seconds, length = 0.0, 0.0
    start_at = problem.request.start_at
    return PlannedRoute(
        patroller=patroller,
        stops=walk.visits,
        length_m=round(length, 2),
        duration_minutes=round(seconds / 60.0, 2),
        depart_at=start_at,
        return_at=start_at + timedelta(seconds=seconds),
    )


def _missing_minutes(
    problem: PatrolProblem, routes: Sequence[PlannedRoute], reasons: dict[StopIndex, Unserved]
) -> float:
    """Patroller-minutes the over-capacity stops would take: each one's time on site and the
    walk there and back from the nearest place the plan already goes to (a start, an end or a
    served stop) — an estimate of the cheapest detour, as a shift extension would need."""
    missing = [k for k, r in reasons.items() if r.code == UnservedCode.OVER_CAPACITY]
    if not missing:
        return 0.0
    places = list(range(len(problem.depots))) + [
        problem.location_of(s.index) for route in routes for s in route.stops
    ]
    seconds = 0.0
    for k in missing:
        location = problem.location_of(k)
        nearest = float(np.min(problem.distance_m[places, location]))
        access = _access_s(problem, problem.snapped[k])
        seconds += 2 * nearest / problem.speed_mps + 2 * access
        seconds += problem.stops[k].service_minutes * 60.0
    return round(seconds / 60.0, 1)


def schedule_routes(
    problem: PatrolProblem,
    mode: Mode,
    routes: list[list[StopIndex]],
    reasons: dict[StopIndex, Unserved],
    solution: RouteSolution,
    vehicles: list[Vehicle],
) -> Plan:
    """Arrival and departure times along each route (stop indices in order per patroller);
    stops beyond a shift or a walking limit are cut (a guard: PyVRP's plans are feasible, with
    durations rounded up for it)."""
    planned_routes = [
        _scheduled_route(problem, i, vehicles[i], order, reasons) for i, order in enumerate(routes)
    ]
    unserved = [
        PlannedStop(
            stop=problem.stops[k],
            index=k,
            snap_distance_m=_snap_m(problem.snapped[k]),
            reason=reason,
        )
        for k, reason in sorted(reasons.items())
    ]
    return Plan(
        mode=mode,
        objective=problem.request.objective,
        missing_minutes=_missing_minutes(problem, planned_routes, reasons),
        routes=planned_routes,
        unserved=unserved,
        solver={
            "feasible": solution.feasible,
            "iterations": solution.iterations,
            "runtime_s": round(solution.runtime_s, 3),
        },
    )


def with_geometry(conn: Connection, problem: PatrolProblem, plan: Plan) -> Plan:
    """Each route drawn along the streets (one pgRouting call for all of them)."""
    walks: list[list[int]] = []
    for i, route in enumerate(plan.routes):
        start, end = problem.depots[2 * i].pid, problem.depots[2 * i + 1].pid
        middle = [problem.location_of(v.index) + 1 for v in route.stops]
        walks.append([start, *middle, end] if (middle or start != end) else [])
    paths = street_paths(conn, problem.points, walks)
    routes = [
        replace(route, geometry=path.geometry if route.stops or route.length_m > 0 else None)
        for route, path in zip(plan.routes, paths, strict=True)
    ]
    return replace(plan, routes=routes)


# ----------------------------------------------------------------------------- problem
def _totals(plan: Plan) -> ModeTotals:
    return ModeTotals(
        total_length_m=round(plan.total_length_m, 1),
        total_minutes=round(plan.total_minutes, 1),
        served=plan.served,
    )


def compare_plans(plan: Plan, alternative: Plan) -> ComparisonOut:
    """Joint against by-district: totals, metres saved and stops gained by joint patrolling."""
    joint, siloed = (plan, alternative) if plan.mode == "joint" else (alternative, plan)
    saved_m = siloed.total_length_m - joint.total_length_m
    return ComparisonOut(
        joint=_totals(joint),
        by_district=_totals(siloed),
        saved_m=round(saved_m, 1),
        saved_pct=(
            round(100.0 * saved_m / siloed.total_length_m, 1) if siloed.total_length_m else 0.0
        ),
        stops_gained=joint.served - siloed.served,
    )


def _scope(request: PlanRequest, patrollers: Sequence[Patroller]) -> Scope:
    districts = request.stops.districts
    if districts is None:
        own = sorted({p.district_code for p in patrollers if p.district_code})
        districts = own or None
    return Scope(districts=districts, communities=request.stops.communities)


def prepare_problem(
    conn: Connection, request: PlanRequest, *, categories: dict[str, Category]
) -> PatrolProblem:
    """Patrollers, stops, their street points and the one walking-distance matrix."""
    # Times must be resolved at the boundary (``PlanRequest.in_zone``): the domain never guesses.
    check_window(request.start_at, None, names=("start_at", "until"))
    if request.stops.hot_grids is not None:
        hot = request.stops.hot_grids
        check_window(hot.since, hot.until, names=("stops.hot_grids.since", "stops.hot_grids.until"))
    if not has_network(conn):
        raise InvalidInput(
            "no street network: import a roads layer (gridpatrol load FILE --layer roads)"
        )
    patrollers = resolve_patrollers(conn, request.patrollers)
    modes: list[Mode] = [request.mode] + ([request.other_mode] if request.compare else [])
    if "by_district" in modes:
        missing = [p.name for p in patrollers if p.district_code is None]
        if missing:
            raise InvalidInput(
                f"by_district: patroller(s) {', '.join(missing)} start outside every district; "
                "give their district"
            )
    depots = _snap_depots(conn, patrollers, max_snap_m=request.max_snap_m)
    components = sorted({p.component for p in depots if p.component is not None})
    stops = gather_stops(
        GatherContext(
            conn=conn,
            request=request,
            scope=_scope(request, patrollers),
            categories=categories,
            components=components,
        )
    )
    snapped, unreachable = _snap_stops(
        conn, stops, components=components, max_snap_m=request.max_snap_m
    )
    # Matrix rows: the depots (pids 1..2P as snapped), then the reachable stops.
    stop_of = [StopIndex(k) for k, s in enumerate(snapped) if s is not None]
    located: list[SnappedPoint | None] = [None] * len(stops)
    for position, k in enumerate(stop_of):
        point = snapped[k]
        assert point is not None
        located[k] = replace(point, pid=len(depots) + position + 1)
    points = list(depots) + [p for p in located if p is not None]
    points.sort(key=lambda p: p.pid)
    return PatrolProblem(
        request=request,
        patrollers=patrollers,
        depots=depots,
        stops=stops,
        snapped=located,
        unreachable=unreachable,
        points=points,
        stop_of=stop_of,
        distance_m=cost_matrix(conn, points),
    )
