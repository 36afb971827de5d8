"""The routing problem handed to PyVRP, and its solution read back.

Model (PyVRP 0.14, integer data: metres and seconds):

- every place is a location; each patroller is a vehicle type of one vehicle with its own start
  and end depot, a time window ``[ready_s, latest_end_s]`` after the plan's start and the shift
  as its maximum duration, and its walking limit, if any, as its maximum distance; the
  objective is metres walked minus prizes collected;
- every stop is optional with a prize, so a plan always exists and stops are dropped only when
  no shift has room. A required stop (an open report) carries a prize larger than all optional
  prizes together, so it is served whenever any shift allows;
- a deadline is soft and lateness costs by the minute: PyVRP has hard time windows only, so a
  report with a deadline becomes copies at one location in a mutually exclusive group, one
  per step of lateness (``LATE_STEPS_MIN``: on time, up to 15, 45, 120, 240 minutes late, and
  later), each with its time window closing at the deadline plus the step and its prize
  lowered by ``LATE_COST_PER_MIN`` for every minute of the step. A report that cannot be
  reached in time is still served, as little late as the plan allows, and the caller flags it
  from the schedule;
- ``by_district``: a vehicle may serve only its ``allowed`` stops. Each distinct allowed set is
  a routing profile whose matrix makes the other stops unreachable (PyVRP's site-dependent
  vehicles: every vehicle type uses one profile).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyvrp
from pyvrp.search import NeighbourhoodParams, PerturbationParams
from pyvrp.stop import MaxRuntime, MultipleCriteria, NoImprovement, StoppingCriterion

FloatMatrix = npt.NDArray[np.float64]
IntMatrix = npt.NDArray[np.int64]

# Prizes, in the objective's unit (metres). A value-1 stop is worth a 100 km detour, so the
# solver visits every stop time allows and minimises walking among plans that do; a required
# stop outweighs a hundred optional ones of value 10.
VALUE_PRIZE = 100_000
REQUIRED_PRIZE = 100_000_000
# A minute late costs as much as an optional value-1 stop: a plan serves a report earlier
# rather than visit one more optional stop first. Lateness is charged in steps (the copies a
# report with a deadline becomes); beyond the last step it costs ``MAX_LATE_MIN`` minutes.
LATE_COST_PER_MIN = VALUE_PRIZE
LATE_STEPS_MIN = (0, 15, 45, 120, 240)
MAX_LATE_MIN = 480
# PyVRP weighs infeasibility (seconds over a shift or a window) by adaptive penalties capped at
# ``max_penalty`` per unit; the cap must exceed the largest prize, or a route that overruns its
# shift by a second to collect one would look better than a feasible plan.
MAX_PENALTY = 1e9
# A small granular neighbourhood and shorter perturbations give several times more iterations
# per second than PyVRP's defaults (50 neighbours, up to 25 perturbations); with the
# nearest-start initial solution this reached within 1 % of a 60-second run in 5 seconds
# more often on the benchmark (bench/README.md).
# The penalty per second over a shift starts at the middle of its range (5e8: above every
# prize, so a short search on a small problem first finds the feasible plan serving the most)
# and PyVRP lowers it by a factor per update while most solutions are feasible. With PyVRP's
# 0.9 every 500 iterations it took ~95,000 iterations to come down to the few metres a second
# of walk is worth, so a 5-s search (~13,000 iterations) never left the feasible-only regime;
# 0.8 every 100 iterations gets there in ~8,000. On the benchmark (200 stops, 5 patrollers
# from one station, 10 seeds, the same local-search work as 13,000 iterations of the old
# setting): median +0.78 % over the best plan known (9 of 10 seeds within 1 %) against
# +1.13 % (4 of 10); bench/README.md. Starting low instead (10) measured +0.66 % but lets a
# 1-s plan on a small problem overrun shifts for prizes and settle on fewer stops.
SOLVE_PARAMS = pyvrp.SolveParams(
    penalty=pyvrp.PenaltyParams(
        max_penalty=MAX_PENALTY, solutions_between_updates=100, penalty_decrease=0.8
    ),
    neighbourhood=NeighbourhoodParams(num_neighbours=20),
    perturbation=PerturbationParams(min_perturbations=1, max_perturbations=10),
)
# Unreachable pairs: far beyond any shift (a day is 86,400 s), yet small enough that penalty
# times duration stays far from int64 overflow.
UNREACHABLE = 10_000_000
# PyVRP's own default for a limit not given.
NO_LIMIT = int(np.iinfo(np.int64).max)
# Stop searching after this many iterations without improvement (on top of the time budget),
# scaled by problem size: small problems converge long before their budget.
_NO_IMPROVEMENT_PER_CLIENT = 400
_NO_IMPROVEMENT_MIN = 20_000


@dataclass(frozen=True)
class Vehicle:
    """A patroller: depot locations, the time window (seconds after the plan's start), the
    visits it may serve (``None``: any) and the furthest it may walk (``None``: no limit)."""

    start: int
    end: int
    ready_s: float
    latest_end_s: float
    allowed: frozenset[int] | None = None
    max_distance_m: float | None = None


@dataclass(frozen=True)
class Visit:
    """A stop: its location, service time, whether required, value and deadline (seconds)."""

    location: int
    service_s: float
    required: bool
    value: float
    due_s: float | None = None


@dataclass(frozen=True)
class RouteSolution:
    """Visit indices per vehicle in order, the unassigned visits, and how the search went;
    ``copies`` says per route position which copy of a deadline was served (0: on time, then
    the steps of ``LATE_STEPS_MIN``; 0 for a visit without one); ``durations_s`` is each
    route's duration as PyVRP counts it against the shift."""

    routes: list[list[int]]
    unassigned: list[int]
    feasible: bool
    iterations: int
    runtime_s: float
    copies: list[list[int]] = field(default_factory=list)
    durations_s: list[float] = field(default_factory=list)

    @property
    def served(self) -> int:
        return sum(len(route) for route in self.routes)

    @property
    def lateness_steps(self) -> int:
        """The late steps taken, summed over the visits (0: all on time)."""
        return sum(sum(route) for route in self.copies)

    @property
    def longest_s(self) -> float:
        return max(self.durations_s, default=0.0)


# A plan to start the search from: per vehicle, (visit index, copy served) in order.
WarmStart = Sequence[Sequence[tuple[int, int]]]


def _profiles(
    vehicles: Sequence[Vehicle], visits: Sequence[Visit]
) -> tuple[list[int], list[set[int]]]:
    """Profile index per vehicle, and the locations each profile bars."""
    keys: list[frozenset[int] | None] = []
    profile_of: list[int] = []
    for v in vehicles:
        if v.allowed not in keys:
            keys.append(v.allowed)
        profile_of.append(keys.index(v.allowed))
    barred = [
        set()
        if allowed is None
        else {visit.location for k, visit in enumerate(visits) if k not in allowed}
        for allowed in keys
    ]
    return profile_of, barred


def _initial_solution(
    data: pyvrp.ProblemData, distances: Sequence[IntMatrix], profile_of: Sequence[int]
) -> pyvrp.Solution:
    """Each stop to the patroller starting nearest to it (among those allowed to reach it),
    in nearest-neighbour order: a start that lets a short search settle on a good plan more
    reliably than PyVRP's random one (measured in bench/README.md). Shifts may be overrun
    here; the search repairs that. Of a group (a report's on-time and late copies) only the
    first client, the on-time copy, is placed."""
    starts = [
        data.depots()[data.vehicle_type(k).start_depot].location for k in range(len(profile_of))
    ]
    clients = data.clients()
    placed_groups: set[int] = set()
    assigned: list[list[int]] = [[] for _ in profile_of]
    for c, client in enumerate(clients):
        if client.group is not None:
            if client.group in placed_groups:
                continue
            placed_groups.add(client.group)
        reach = [
            (int(distances[profile_of[k]][starts[k], client.location]), k)
            for k in range(len(profile_of))
        ]
        best_m, best_k = min(reach)
        if best_m < UNREACHABLE:
            assigned[best_k].append(c)
    routes = []
    for k, todo in enumerate(assigned):
        matrix, here, left, order = distances[profile_of[k]], starts[k], set(todo), []
        while left:
            nearest = min(left, key=lambda c: (matrix[here, clients[c].location], c))
            order.append(nearest)
            left.remove(nearest)
            here = clients[nearest].location
        if order:
            activities = [pyvrp.Activity(pyvrp.ActivityType.CLIENT, c) for c in order]
            routes.append(pyvrp.Route(data, activities, k))
    return pyvrp.Solution(data, routes)


def _warm_solution(
    data: pyvrp.ProblemData, warm_start: WarmStart, client_of: dict[int, tuple[int, ...]]
) -> pyvrp.Solution:
    """``warm_start`` as a PyVRP solution: each visit as the same copy (on time or late) it was
    served as; visits this problem does not have are left out."""
    routes = []
    for k, stops in enumerate(warm_start):
        order = [
            client_of[v][min(copy, len(client_of[v]) - 1)] for v, copy in stops if v in client_of
        ]
        if order:
            activities = [pyvrp.Activity(pyvrp.ActivityType.CLIENT, c) for c in order]
            routes.append(pyvrp.Route(data, activities, k))
    return pyvrp.Solution(data, routes)


def _integer_matrices(
    distance_m: FloatMatrix, duration_s: FloatMatrix
) -> tuple[IntMatrix, IntMatrix]:
    finite = np.isfinite(distance_m)
    distance = np.where(finite, np.rint(np.where(finite, distance_m, 0)), UNREACHABLE)
    # Durations round up, so a schedule recomputed in seconds never exceeds what was checked.
    duration = np.where(finite, np.ceil(np.where(finite, duration_s, 0)), UNREACHABLE)
    return distance.astype(np.int64), duration.astype(np.int64)


def _profile_matrices(
    distance_m: FloatMatrix, duration_s: FloatMatrix, barred: Sequence[set[int]]
) -> tuple[list[Any], list[Any]]:
    """Per routing profile, the integer matrices with its barred locations unreachable."""
    distance, duration = _integer_matrices(distance_m, duration_s)
    distances: list[Any] = []
    durations: list[Any] = []
    for barred_locations in barred:
        d, t = distance.copy(), duration.copy()
        if barred_locations:
            rows = sorted(barred_locations)
            for m in (d, t):
                m[rows, :] = UNREACHABLE
                m[:, rows] = UNREACHABLE
                m[rows, rows] = 0
        distances.append(d)
        durations.append(t)
    return distances, durations


@dataclass
class _Clients:
    """PyVRP's clients for the visits: per client its visit, per visit its clients (the copies
    of a deadline, on time first; one client without one), and the deadline groups."""

    clients: list[pyvrp.Client] = field(default_factory=list)
    visit_of: list[int] = field(default_factory=list)
    client_of: dict[int, tuple[int, ...]] = field(default_factory=dict)
    groups: list[pyvrp.ClientGroup] = field(default_factory=list)

    def add(self, k: int, copies: Sequence[pyvrp.Client]) -> None:
        first = len(self.clients)
        indices = tuple(range(first, first + len(copies)))
        if len(copies) > 1:
            self.groups.append(pyvrp.ClientGroup(list(indices), required=False))
        self.client_of[k] = indices
        self.clients += copies
        self.visit_of += [k] * len(copies)


def _late_copies(visit: Visit, service: int, group: int) -> list[pyvrp.Client]:
    """A required visit with a deadline as one client per step of lateness still possible
    (windows closing before the plan starts are left out), and one with no window."""
    assert visit.due_s is not None
    copies = [
        pyvrp.Client(
            location=visit.location,
            service_duration=service,
            tw_late=math.floor(visit.due_s + 60 * step),
            prize=REQUIRED_PRIZE - LATE_COST_PER_MIN * step,
            required=False,
            group=group,
        )
        for step in LATE_STEPS_MIN
        if visit.due_s + 60 * step >= 0
    ]
    copies.append(
        pyvrp.Client(
            location=visit.location,
            service_duration=service,
            prize=REQUIRED_PRIZE - LATE_COST_PER_MIN * MAX_LATE_MIN,
            required=False,
            group=group,
        )
    )
    return copies


def _clients(visits: Sequence[Visit]) -> _Clients:
    """An optional stop is one client with its value's prize; a required one without a
    deadline one client with the required prize; one with a deadline its late copies in an
    exclusive group."""
    built = _Clients()
    for k, visit in enumerate(visits):
        service = math.ceil(visit.service_s)
        if visit.required and visit.due_s is not None:
            copies = _late_copies(visit, service, len(built.groups))
            # A single copy (the deadline long past) is an ordinary client, not a group.
            if len(copies) == 1:
                copies = [
                    pyvrp.Client(
                        location=visit.location,
                        service_duration=service,
                        prize=copies[0].prize,
                        required=False,
                    )
                ]
            built.add(k, copies)
            continue
        prize = REQUIRED_PRIZE if visit.required else max(1, round(VALUE_PRIZE * visit.value))
        built.add(
            k,
            [
                pyvrp.Client(
                    location=visit.location, service_duration=service, prize=prize, required=False
                )
            ],
        )
    return built


def _vehicle_types(
    vehicles: Sequence[Vehicle], depot_index: dict[int, int], profile_of: Sequence[int]
) -> list[pyvrp.VehicleType]:
    """One vehicle type per patroller: its depots, time window, shift and walking limit."""
    return [
        pyvrp.VehicleType(
            num_available=1,
            start_depot=depot_index[v.start],
            end_depot=depot_index[v.end],
            tw_early=math.ceil(v.ready_s),
            tw_late=max(math.ceil(v.ready_s), math.floor(v.latest_end_s)),
            shift_duration=max(0, math.floor(v.latest_end_s) - math.ceil(v.ready_s)),
            max_distance=NO_LIMIT if v.max_distance_m is None else math.floor(v.max_distance_m),
            profile=profile_of[i],
            name=str(i),
        )
        for i, v in enumerate(vehicles)
    ]


def _read_solution(
    result: pyvrp.Result, built: _Clients, n_vehicles: int, n_visits: int
) -> RouteSolution:
    """The best solution as visit indices per vehicle, with which copy each was served as."""
    best = result.best
    routes: list[list[int]] = [[] for _ in range(n_vehicles)]
    copies: list[list[int]] = [[] for _ in range(n_vehicles)]
    durations: list[float] = [0.0] * n_vehicles
    served: set[int] = set()
    for route in best.routes():
        clients_in_order = [
            activity.idx for activity in route if activity.type == pyvrp.ActivityType.CLIENT
        ]
        order = [built.visit_of[c] for c in clients_in_order]
        routes[route.vehicle_type()] = order
        copies[route.vehicle_type()] = [
            built.client_of[v].index(c) for c, v in zip(clients_in_order, order, strict=True)
        ]
        durations[route.vehicle_type()] = float(route.duration())
        served.update(order)
    return RouteSolution(
        routes=routes,
        unassigned=[k for k in range(n_visits) if k not in served],
        feasible=bool(best.is_feasible()),
        iterations=int(result.num_iterations),
        runtime_s=float(result.runtime),
        copies=copies,
        durations_s=durations,
    )


def solve_routes(
    *,
    lonlat: Sequence[tuple[float, float]],
    distance_m: FloatMatrix,
    duration_s: FloatMatrix,
    vehicles: Sequence[Vehicle],
    visits: Sequence[Visit],
    time_limit_s: float,
    seed: int = 0,
    stop_early: bool = True,
    warm_start: WarmStart | None = None,
    stop: StoppingCriterion | None = None,
) -> RouteSolution:
    """Solve with PyVRP's iterated local search within ``time_limit_s`` seconds (sooner when
    ``stop_early`` and the search has stopped improving). ``stop``, when given, replaces both
    (the benchmark's iteration budgets, which a loaded machine does not skew).

    ``lonlat`` and the matrices are indexed by location; ``vehicles`` and ``visits`` refer to
    locations. Returns the visits per vehicle in order and the ones left out. ``warm_start``
    (a feasible plan of a more constrained problem, e.g. by_district's for joint) is where the
    search starts instead of the nearest-neighbour plan, so the result is never worse than it.
    """
    if not vehicles:
        return RouteSolution([], list(range(len(visits))), True, 0, 0.0)
    profile_of, barred = _profiles(vehicles, visits)
    distances, durations = _profile_matrices(distance_m, duration_s, barred)
    depot_locations = sorted({v.start for v in vehicles} | {v.end for v in vehicles})
    depot_index = {loc: k for k, loc in enumerate(depot_locations)}
    built = _clients(visits)
    if not built.clients:
        return RouteSolution(
            [[] for _ in vehicles], [], True, 0, 0.0, [[] for _ in vehicles], [0.0] * len(vehicles)
        )
    data = pyvrp.ProblemData(
        locations=[pyvrp.Location(x=lon, y=lat) for lon, lat in lonlat],
        clients=built.clients,
        depots=[pyvrp.Depot(location=loc) for loc in depot_locations],
        vehicle_types=_vehicle_types(vehicles, depot_index, profile_of),
        distance_matrices=distances,
        duration_matrices=durations,
        groups=built.groups,
    )
    patience = max(_NO_IMPROVEMENT_MIN, _NO_IMPROVEMENT_PER_CLIENT * len(built.clients))
    if stop is None:
        stop = (
            MultipleCriteria([MaxRuntime(time_limit_s), NoImprovement(patience)])
            if stop_early
            else MaxRuntime(time_limit_s)
        )
    result = pyvrp.solve(
        data,
        stop=stop,
        seed=seed,
        collect_stats=False,
        display=False,
        params=SOLVE_PARAMS,
        initial_solution=(
            _initial_solution(data, distances, profile_of)
            if warm_start is None
            else _warm_solution(data, warm_start, built.client_of)
        ),
    )
    return _read_solution(result, built, len(vehicles), len(visits))
