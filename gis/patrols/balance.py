"""The balanced objective: the longest patroller's time away as short as possible, then the
team's total walk.

PyVRP 0.14 minimises a sum (metres minus prizes) and has no makespan objective, but it has a
hard maximum duration per vehicle. So balancing is a search over that limit:

1. solve as ``shortest`` with part of the budget (``FIRST_SHARE``): this fixes what the team
   can serve (stops and lateness) and gives the first longest route;
2. bisect the limit between a lower bound (no route can be shorter than the longest round
   trip to a served stop, nor than the team's work shared evenly) and the longest route found:
   each probe caps every patroller's shift at the limit and solves again, warm-started from
   the best plan so far (which the search repairs to fit). A probe that serves as many stops
   no later is kept and lowers the upper end; one that does not raises the lower end;
3. the last plan kept is the answer: among plans with that longest route, PyVRP minimised
   the walk, so the team's total comes second.

Probes share the rest of the budget, each stopping early once it stops improving.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from gis.patrols.solver import (
    FloatMatrix,
    RouteSolution,
    Vehicle,
    Visit,
    WarmStart,
    solve_routes,
)

# Share of the budget for the first (shortest) solve; the rest goes to the probes.
FIRST_SHARE = 0.3
MAX_PROBES = 6
# Stop bisecting when the interval is this narrow (seconds, or this share of the longest).
TOLERANCE_S = 60.0
TOLERANCE_SHARE = 0.01


def _order(solution: RouteSolution) -> list[list[tuple[int, int]]]:
    return [
        list(zip(route, copies, strict=True))
        for route, copies in zip(solution.routes, solution.copies, strict=True)
    ]


def _lower_bound_s(
    solution: RouteSolution,
    duration_s: FloatMatrix,
    vehicles: Sequence[Vehicle],
    visits: Sequence[Visit],
) -> float:
    """No plan serving the same stops has a shorter longest route than this (seconds)."""
    served = [v for route in solution.routes for v in route]
    if not served:
        return 0.0
    service = sum(visits[v].service_s for v in served)
    alone = max(
        min(
            float(
                duration_s[vehicle.start, visits[v].location]
                + duration_s[visits[v].location, vehicle.end]
            )
            + visits[v].service_s
            for vehicle in vehicles
            if vehicle.allowed is None or v in vehicle.allowed
        )
        for v in served
    )
    return max(alone, service / max(1, len(vehicles)))


def _capped(vehicles: Sequence[Vehicle], limit_s: float) -> list[Vehicle]:
    return [replace(v, latest_end_s=min(v.latest_end_s, v.ready_s + limit_s)) for v in vehicles]


def _as_good(candidate: RouteSolution, base: RouteSolution) -> bool:
    """Serves as many stops, no later, within every limit."""
    return (
        candidate.feasible
        and candidate.served >= base.served
        and candidate.lateness_steps <= base.lateness_steps
    )


def solve_balanced(
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
) -> RouteSolution:
    """:func:`gis.patrols.solver.solve_routes` with the balanced objective (module docstring),
    within ``time_limit_s`` seconds in all."""
    started = time.perf_counter()

    def solve(capped: Sequence[Vehicle], budget_s: float, start: WarmStart | None) -> RouteSolution:
        return solve_routes(
            lonlat=lonlat,
            distance_m=distance_m,
            duration_s=duration_s,
            vehicles=capped,
            visits=visits,
            time_limit_s=budget_s,
            seed=seed,
            stop_early=stop_early,
            warm_start=start,
        )

    best = solve(vehicles, time_limit_s * FIRST_SHARE, warm_start)
    if len(vehicles) < 2 or best.served == 0:
        return best
    base = best
    low = _lower_bound_s(best, duration_s, vehicles, visits)
    iterations = best.iterations
    for probe in range(MAX_PROBES):
        high = best.longest_s
        if high - low <= max(TOLERANCE_S, TOLERANCE_SHARE * high):
            break
        left = time_limit_s - (time.perf_counter() - started)
        if left <= 0.05:
            break
        limit = (low + high) / 2
        candidate = solve(_capped(vehicles, limit), left / (MAX_PROBES - probe), _order(best))
        iterations += candidate.iterations
        if _as_good(candidate, base) and candidate.longest_s < best.longest_s:
            best = candidate
        else:
            low = limit
    return replace(best, iterations=iterations, runtime_s=time.perf_counter() - started)
