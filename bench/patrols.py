"""Benchmark: patrol planning on the demo city and the walking-distance matrix on a big city.

Not part of the test suite; run with ``python -m bench.patrols`` (see bench/README.md). It
starts its own throwaway cluster in ``/tmp/bench-pg-patrols`` and measures, in one run:

1. plan: 200 building stops (1 min on site, so every stop fits and lengths compare), 5
   patrollers with 4-hour shifts on the demo city, ``time_limit_s=5``: the whole
   ``create_patrol_plan`` (matrix + solve + street geometries + store); then on the SAME
   matrix PyVRP for 5 s with five seeds, PyVRP for 60 s, and OR-Tools' guided local search for
   the same 5 s (``pip install 'ortools>=9.12'``; skipped with a note when missing);
2. matrix: 200 random points on the street network of a generated 10,000-grid city, one
   ``pgr_withPointsCostMatrix`` call against scipy's and networkx's Dijkstra on the same graph
   held in memory (points spliced into their edges the way withPoints does).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra
from sqlalchemy import Engine, text

from cli.cluster import EmbeddedCluster
from data.generate import CitySpec, generate_city
from gis.city import load_city
from gis.core.db import make_engine, migrate
from gis.core.settings import Settings
from gis.patrols.balance import solve_balanced
from gis.patrols.planning import PatrolProblem, prepare_problem, solver_input
from gis.patrols.request import PlanRequest
from gis.patrols.service import create_patrol_plan
from gis.patrols.solver import UNREACHABLE, VALUE_PRIZE, Vehicle, Visit, solve_routes
from gis.reports.categories import get_categories
from gis.routing.matrix import cost_matrix
from gis.routing.snapping import snap_points
from gis.territory.importing import import_frame

CATEGORIES = get_categories(Settings.model_fields["categories_file"].default)


def _database(cluster_url: str, name: str) -> Engine:
    admin = make_engine(cluster_url.rsplit("/", 1)[0] + "/postgres")
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).scalar()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = make_engine(cluster_url.rsplit("/", 1)[0] + f"/{name}")
    migrate(engine)
    return engine


# ----------------------------------------------------------------------------- 1. plan
def plan_request(
    engine: Engine,
    *,
    stops: int,
    patrollers: int,
    seed: int,
    objective: str = "shortest",
    time_limit_s: float = 5,
) -> PlanRequest:
    """``stops`` buildings spread over the city and ``patrollers`` leaving ONE service station
    (the team that one patroller would do alone under the shortest objective)."""
    with engine.connect() as conn:
        buildings = conn.execute(text("SELECT code FROM buildings ORDER BY code")).scalars().all()
        stations = (
            conn.execute(
                text("SELECT code FROM facilities WHERE kind = 'service_station' ORDER BY code")
            )
            .scalars()
            .all()
        )
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(buildings, stops, replace=False).tolist())
    station = str(rng.choice(stations))
    starts = [station] * patrollers
    return PlanRequest.model_validate(
        {
            "name": "bench",
            "start_at": "2026-11-24T08:00:00+08:00",
            "mode": "joint",
            "objective": objective,
            "time_limit_s": time_limit_s,
            "service_minutes": 1,
            "patrollers": [
                {"name": f"P{k + 1}", "start": {"facility": code}, "shift_minutes": 240}
                for k, code in enumerate(starts)
            ],
            "stops": {"buildings": chosen},
        }
    )


def route_length(
    distance: np.ndarray, vehicles: list[Vehicle], visits: list[Visit], routes: list[list[int]]
) -> float:
    """Street metres of routes (visit indices per vehicle) on the float matrix."""
    total = 0.0
    for vehicle, order in zip(vehicles, routes, strict=True):
        path = [vehicle.start, *[visits[v].location for v in order], vehicle.end]
        if len(path) > 2 or vehicle.start != vehicle.end:
            total += float(sum(distance[a, b] for a, b in zip(path, path[1:], strict=False)))
    return total


def ortools_gls(problem: PatrolProblem, *, time_limit_s: float) -> dict[str, Any] | None:
    """The same vehicles and visits (joint mode) solved by OR-Tools' guided local search."""
    try:
        from ortools.constraint_solver import pywrapcp, routing_enums_pb2
    except ImportError:
        return None
    given = solver_input(problem, "joint")
    vehicles, visits = given.vehicles, given.visits
    # Nodes: every vehicle's start and end, then the visits (as in PyVRP, on the same matrix).
    nodes = [v.start for v in vehicles] + [v.end for v in vehicles] + [v.location for v in visits]
    n_vehicles = len(vehicles)
    finite = np.isfinite(problem.distance_m)
    dist = np.where(finite, np.rint(np.where(finite, problem.distance_m, 0)), UNREACHABLE)
    dur = np.where(finite, np.ceil(np.where(finite, given.duration_s, 0)), UNREACHABLE)
    sub_dist = dist[np.ix_(nodes, nodes)].astype(np.int64)
    sub_dur = dur[np.ix_(nodes, nodes)].astype(np.int64)
    service = [0] * (2 * n_vehicles) + [math.ceil(v.service_s) for v in visits]
    manager = pywrapcp.RoutingIndexManager(
        len(nodes), n_vehicles, list(range(n_vehicles)), list(range(n_vehicles, 2 * n_vehicles))
    )
    routing = pywrapcp.RoutingModel(manager)

    def distance_cb(i: int, j: int) -> int:
        return int(sub_dist[manager.IndexToNode(i), manager.IndexToNode(j)])

    def time_cb(i: int, j: int) -> int:
        a, b = manager.IndexToNode(i), manager.IndexToNode(j)
        return int(sub_dur[a, b] + service[a])

    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitCallback(distance_cb))
    time_index = routing.RegisterTransitCallback(time_cb)
    horizon = max(math.floor(v.latest_end_s) for v in vehicles)
    routing.AddDimension(time_index, 0, horizon, False, "time")
    dimension = routing.GetDimensionOrDie("time")
    for k, vehicle in enumerate(vehicles):
        dimension.CumulVar(routing.Start(k)).SetRange(
            math.ceil(vehicle.ready_s), math.ceil(vehicle.ready_s)
        )
        dimension.CumulVar(routing.End(k)).SetMax(math.floor(vehicle.latest_end_s))
    for k, visit in enumerate(visits):
        index = manager.NodeToIndex(2 * n_vehicles + k)
        routing.AddDisjunction([index], max(1, round(VALUE_PRIZE * visit.value)))
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(int(time_limit_s * 1000))
    start = time.perf_counter()
    solution = routing.SolveWithParameters(params)
    elapsed = time.perf_counter() - start
    if solution is None:
        return {"solved": False, "seconds": elapsed}
    routes: list[list[int]] = []
    for k in range(n_vehicles):
        index, order = routing.Start(k), []
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            if node >= 2 * n_vehicles:
                order.append(node - 2 * n_vehicles)
            index = solution.Value(routing.NextVar(index))
        routes.append(order)
    return {
        "solved": True,
        "seconds": elapsed,
        "longest_min": max(route_minutes(problem, vehicles, visits, routes)),
        "served": sum(len(r) for r in routes),
        "length_m": route_length(problem.distance_m, vehicles, visits, routes),
    }


def vroom_solve(problem: PatrolProblem, *, time_limit_s: float) -> dict[str, Any] | None:
    """The same vehicles and visits (joint mode) solved by VROOM (pyvroom), costs = metres."""
    try:
        import vroom
    except ImportError:
        return None
    from datetime import timedelta

    given = solver_input(problem, "joint")
    vehicles, visits = given.vehicles, given.visits
    nodes = sorted({v.start for v in vehicles} | {v.end for v in vehicles})
    nodes += [v.location for v in visits]
    index = {loc: k for k, loc in enumerate(dict.fromkeys(nodes))}
    order = list(index)
    finite = np.isfinite(problem.distance_m)
    dist = np.where(finite, np.rint(np.where(finite, problem.distance_m, 0)), UNREACHABLE)
    dur = np.where(finite, np.ceil(np.where(finite, given.duration_s, 0)), UNREACHABLE)
    instance = vroom.Input()
    instance.set_durations_matrix("foot", dur[np.ix_(order, order)].astype(np.uint32))
    instance.set_distances_matrix("foot", dist[np.ix_(order, order)].astype(np.uint32))
    instance.set_costs_matrix("foot", dist[np.ix_(order, order)].astype(np.uint32))
    for k, v in enumerate(vehicles):
        instance.add_vehicle(
            vroom.Vehicle(
                id=k,
                start=index[v.start],
                end=index[v.end],
                profile="foot",
                time_window=vroom.TimeWindow(math.ceil(v.ready_s), math.floor(v.latest_end_s)),
            )
        )
    for k, visit in enumerate(visits):
        instance.add_job(
            vroom.Job(
                id=k, location=index[visit.location], default_service=math.ceil(visit.service_s)
            )
        )
    start = time.perf_counter()
    solution = instance.solve(
        exploration_level=5, nb_threads=1, timeout=timedelta(seconds=time_limit_s)
    )
    elapsed = time.perf_counter() - start
    routes: list[list[int]] = [[] for _ in vehicles]
    steps = solution.routes
    for vehicle_id, job_id, kind in zip(
        steps["vehicle_id"], steps["id"], steps["type"], strict=True
    ):
        if kind == "job":
            routes[int(vehicle_id)].append(int(job_id))
    return {
        "seconds": elapsed,
        "served": sum(len(r) for r in routes),
        "length_m": route_length(problem.distance_m, vehicles, visits, routes),
        "longest_min": max(route_minutes(problem, vehicles, visits, routes)),
    }


def route_minutes(
    problem: PatrolProblem, vehicles: list[Vehicle], visits: list[Visit], routes: list[list[int]]
) -> list[float]:
    """Each route's time away (minutes) as the plan counts it: the walk to the street, the
    legs, the time on site and the walk from the street at the end."""
    minutes = []
    for k, (vehicle, order) in enumerate(zip(vehicles, routes, strict=True)):
        path = [vehicle.start, *[visits[v].location for v in order], vehicle.end]
        if len(path) == 2 and vehicle.start == vehicle.end:
            minutes.append(0.0)
            continue
        legs = sum(float(problem.distance_m[a, b]) for a, b in zip(path, path[1:], strict=False))
        end_access = problem.depots[2 * k + 1].distance_m / problem.speed_mps
        seconds = vehicle.ready_s + legs / problem.speed_mps + end_access
        seconds += sum(visits[v].service_s for v in order)
        minutes.append(seconds / 60.0)
    return minutes


def _plan_longest(plan: Any) -> dict[str, float]:
    minutes = [r.duration_minutes for r in plan.routes]
    return {
        "longest_min": max(minutes),
        "mean_min": sum(minutes) / len(minutes),
        "longest_over_mean": max(minutes) / (sum(minutes) / len(minutes)),
    }


def bench_balanced(
    engine: Engine, *, stops: int, patrollers: int, long_s: float, time_limit_s: float
) -> dict[str, Any]:
    """The balanced plan (whole ``create_patrol_plan``) against a ``long_s`` balanced search
    on the same matrix; VROOM's and OR-Tools' longest routes (they minimise the team's metres)
    side by side."""
    request = plan_request(
        engine,
        stops=stops,
        patrollers=patrollers,
        seed=7,
        objective="balanced",
        time_limit_s=time_limit_s,
    )
    start = time.perf_counter()
    plan = create_patrol_plan(engine, request, categories=CATEGORIES)
    whole_s = time.perf_counter() - start
    with engine.connect() as conn:
        problem = prepare_problem(conn, request, categories=CATEGORIES)
    given = solver_input(problem, "joint")
    t0 = time.perf_counter()
    long_run = solve_balanced(
        lonlat=[(p.lon, p.lat) for p in problem.points],
        distance_m=problem.distance_m,
        duration_s=given.duration_s,
        vehicles=given.vehicles,
        visits=given.visits,
        time_limit_s=long_s,
        stop_early=False,
    )
    long_s_taken = time.perf_counter() - t0
    long_minutes = route_minutes(problem, given.vehicles, given.visits, long_run.routes)
    ours = _plan_longest(plan)
    return {
        "time_limit_s": time_limit_s,
        "whole_plan_s": whole_s,
        "served": plan.served,
        "unserved": len(plan.unserved),
        "length_m": plan.total_length_m,
        **ours,
        "shares_min": [r.duration_minutes for r in plan.routes],
        f"balanced_{long_s:g}s": {
            "seconds": long_s_taken,
            "served": long_run.served,
            "longest_min": max(long_minutes),
            "length_m": route_length(
                problem.distance_m, given.vehicles, given.visits, long_run.routes
            ),
        },
        "longest_vs_long_pct": 100 * (ours["longest_min"] / max(long_minutes) - 1),
    }


def bench_plan(
    engine: Engine, *, stops: int, patrollers: int, long_s: float, seeds: int
) -> dict[str, Any]:
    request = plan_request(engine, stops=stops, patrollers=patrollers, seed=7)
    start = time.perf_counter()
    plan = create_patrol_plan(engine, request, categories=CATEGORIES)
    whole_s = time.perf_counter() - start
    with engine.connect() as conn:
        t = time.perf_counter()
        problem = prepare_problem(conn, request, categories=CATEGORIES)
        prepare_s = time.perf_counter() - t
    given = solver_input(problem, "joint")
    lonlat = [(p.lon, p.lat) for p in problem.points]

    def pyvrp(seconds: float, seed: int = 0, *, stop_early: bool = True) -> dict[str, Any]:
        t0 = time.perf_counter()
        solution = solve_routes(
            lonlat=lonlat,
            distance_m=problem.distance_m,
            duration_s=given.duration_s,
            vehicles=given.vehicles,
            visits=given.visits,
            time_limit_s=seconds,
            seed=seed,
            stop_early=stop_early,
        )
        return {
            "seconds": time.perf_counter() - t0,
            "served": sum(len(r) for r in solution.routes),
            "length_m": route_length(
                problem.distance_m, given.vehicles, given.visits, solution.routes
            ),
            "longest_min": max(
                route_minutes(problem, given.vehicles, given.visits, solution.routes)
            ),
            "iterations": solution.iterations,
        }

    # The plan's own solve is one draw of a time-limited search: seeds show the spread.
    same_budget = [pyvrp(request.time_limit_s, seed) for seed in range(seeds)]
    long_run = pyvrp(long_s, stop_early=False)
    ortools = ortools_gls(problem, time_limit_s=request.time_limit_s)
    vroom = vroom_solve(problem, time_limit_s=request.time_limit_s)
    gaps = sorted(100 * (r["length_m"] / long_run["length_m"] - 1) for r in same_budget)
    return {
        "stops": stops,
        "patrollers": patrollers,
        "whole_plan_s": whole_s,
        "plan_served": plan.served,
        "plan_unserved": len(plan.unserved),
        "plan_length_m": plan.total_length_m,
        **{f"plan_{k}": v for k, v in _plan_longest(plan).items()},
        "prepare_s (patrollers, stops, snapping, matrix)": prepare_s,
        "pyvrp_5s_by_seed": same_budget,
        f"pyvrp_{long_s:g}s": long_run,
        "gap_plan_vs_long_pct": 100 * (plan.total_length_m / long_run["length_m"] - 1),
        "gap_5s_seeds_pct (sorted)": gaps,
        "gap_5s_median_pct": float(np.median(gaps)),
        "seeds_within_1pct": sum(1 for g in gaps if g <= 1.0),
        "ortools_gls_5s": ortools or "not installed: pip install 'ortools>=9.12'",
        "vroom_5s": vroom or "not installed: pip install 'pyvroom>=1.14'",
        "ortools_gap_pct": (
            100 * (ortools["length_m"] / long_run["length_m"] - 1) if ortools else None
        ),
        "vroom_gap_pct": 100 * (vroom["length_m"] / long_run["length_m"] - 1) if vroom else None,
    }


# ----------------------------------------------------------------------------- 2. matrix
def load_big_network(engine: Engine, grids: int) -> dict[str, Any]:
    with engine.connect() as conn:
        edges = conn.execute(text("SELECT count(*) FROM routing_edges")).scalar_one()
    if edges:
        return {"network": "reused"}
    t = time.perf_counter()
    city = generate_city(CitySpec(grids=grids, buildings=grids, reports=1000))
    generated_s = time.perf_counter() - t
    roads = city["roads"]
    t = time.perf_counter()
    with engine.begin() as conn:
        import_frame(conn, roads, layer="roads")
    return {
        "roads": len(roads),
        "generate_s": generated_s,
        "import_and_build_s": time.perf_counter() - t,
    }


def _spliced_graph(engine: Engine, points: list[Any]) -> tuple[pd.DataFrame, list[int]]:
    """Edges (u, v, w) of the network with each point spliced into its edge, and the node id of
    each point."""
    with engine.connect() as conn:
        edges = pd.DataFrame(
            conn.execute(text("SELECT id, source, target, length_m FROM routing_edges")).all(),
            columns=["id", "u", "v", "w"],
        )
    next_id = int(max(edges["u"].max(), edges["v"].max())) + 1
    point_node = []
    on_edge: dict[int, list[tuple[float, int]]] = {}
    for p in points:
        on_edge.setdefault(p.edge_id, []).append((p.fraction, next_id))
        point_node.append(next_id)
        next_id += 1
    split = edges[edges["id"].isin(on_edge)]
    kept = edges[~edges["id"].isin(on_edge)][["u", "v", "w"]]
    extra = []
    for row in split.itertuples():
        stops = sorted(on_edge[row.id])
        chain = [(0.0, row.u), *stops, (1.0, row.v)]
        for (f0, a), (f1, b) in zip(chain, chain[1:], strict=False):
            extra.append((a, b, (f1 - f0) * row.w))
    graph = pd.concat([kept, pd.DataFrame(extra, columns=["u", "v", "w"])], ignore_index=True)
    return graph, point_node


def bench_matrix(engine: Engine, *, points: int, seed: int, nx_sources: int) -> dict[str, Any]:
    with engine.connect() as conn:
        box = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                "FROM (SELECT ST_Extent(geom)::geometry e FROM routing_edges) s"
            )
        ).one()
        rng = np.random.default_rng(seed)
        xy = list(
            zip(
                rng.uniform(box[0], box[2], points),
                rng.uniform(box[1], box[3], points),
                strict=True,
            )
        )
        t = time.perf_counter()
        snapped = snap_points(conn, [(float(x), float(y)) for x, y in xy])
        snap_s = time.perf_counter() - t
        t = time.perf_counter()
        matrix = cost_matrix(conn, snapped)
        pgrouting_s = time.perf_counter() - t
    t = time.perf_counter()
    graph, nodes = _spliced_graph(engine, snapped)
    # Parallel edges: keep the shortest (a sparse matrix would add them up).
    graph = graph.assign(a=graph[["u", "v"]].min(axis=1), b=graph[["u", "v"]].max(axis=1))
    graph = graph.groupby(["a", "b"], as_index=False)["w"].min()
    n = int(max(graph["a"].max(), graph["b"].max())) + 1
    csr = coo_matrix(
        (graph["w"].to_numpy() + 1e-9, (graph["a"].to_numpy(), graph["b"].to_numpy())),
        shape=(n, n),
    ).tocsr()
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    distances = dijkstra(csr, directed=False, indices=nodes)[:, nodes]
    scipy_s = time.perf_counter() - t
    t = time.perf_counter()
    nx_graph = nx.Graph()
    nx_graph.add_weighted_edges_from(graph[["a", "b", "w"]].itertuples(index=False, name=None))
    nx_build_s = time.perf_counter() - t
    t = time.perf_counter()
    for source in nodes[:nx_sources]:
        nx.single_source_dijkstra_path_length(nx_graph, source, weight="weight")
    nx_s = (time.perf_counter() - t) * points / nx_sources
    both = np.isfinite(matrix) & np.isfinite(distances)
    return {
        "points": points,
        "edges": len(graph),
        "snap_s": snap_s,
        "pgrouting_matrix_s (one call, edges read from the table)": pgrouting_s,
        "scipy_graph_build_s": build_s,
        "scipy_dijkstra_s (graph in memory)": scipy_s,
        "networkx_graph_build_s": nx_build_s,
        f"networkx_dijkstra_s (extrapolated from {nx_sources} sources)": nx_s,
        "ratio_pgrouting_over_scipy": pgrouting_s / scipy_s,
        "ratio_pgrouting_over_networkx": pgrouting_s / nx_s,
        # scipy carries the 1e-9 m added per edge (so zero-length edges stay edges).
        "max_abs_diff_m": float(np.max(np.abs(matrix[both] - distances[both]))),
        "same_unreachable_pairs": bool(np.array_equal(np.isinf(matrix), np.isinf(distances))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, default=Path("/tmp/bench-pg-patrols"))
    parser.add_argument("--stops", type=int, default=200)
    parser.add_argument("--patrollers", type=int, default=5)
    parser.add_argument("--long-s", type=float, default=60.0)
    parser.add_argument("--seeds", type=int, default=5, help="5-second solves on the same matrix")
    parser.add_argument(
        "--balanced-s", type=float, default=10.0, help="the balanced plan's time_limit_s"
    )
    parser.add_argument("--skip-shortest", action="store_true")
    parser.add_argument("--grids", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--nx-sources", type=int, default=20)
    parser.add_argument("--skip-plan", action="store_true")
    parser.add_argument("--skip-matrix", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="append the results (JSON line)")
    args = parser.parse_args()

    url = EmbeddedCluster(args.home, durable=False).start()
    results: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M")}
    if not args.skip_plan:
        demo = _database(url, "bench_demo")
        with demo.connect() as conn:
            empty = conn.execute(text("SELECT NOT EXISTS (SELECT 1 FROM grids)")).scalar_one()
        if empty:
            load_city(demo, categories=CATEGORIES)
        results["balanced"] = bench_balanced(
            demo,
            stops=args.stops,
            patrollers=args.patrollers,
            long_s=args.long_s,
            time_limit_s=args.balanced_s,
        )
        print(json.dumps(results["balanced"], indent=2))
        if not args.skip_shortest:
            results["plan"] = bench_plan(
                demo,
                stops=args.stops,
                patrollers=args.patrollers,
                long_s=args.long_s,
                seeds=args.seeds,
            )
            print(json.dumps(results["plan"], indent=2))
        demo.dispose()
    if not args.skip_matrix:
        big = _database(url, f"bench_city_{args.grids}")
        results["network"] = load_big_network(big, args.grids)
        results["matrix"] = bench_matrix(
            big, points=args.points, seed=11, nx_sources=args.nx_sources
        )
        big.dispose()
        print(json.dumps({k: results[k] for k in ("network", "matrix")}, indent=2))
    if args.out:
        with args.out.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"bench": "patrols", **results}) + "\n")


if __name__ == "__main__":
    main()
