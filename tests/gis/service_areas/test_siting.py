"""New sites: the maximum coverage MILP against brute force, and siting on the street town."""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
import pytest
from scipy.sparse import csr_matrix
from sqlalchemy import Engine

from gis.core.errors import InvalidInput
from gis.service_areas.gaps import nearest_walks
from gis.service_areas.siting import (
    coverage_problem,
    greedy_max_coverage,
    site_stations,
    solve_max_coverage,
)
from gis.service_areas.walk import check_limit, load_walk_city
from tests.gis.service_areas.town import BUILDINGS, SPEED_KMH, build_town, reference_graph
from tests.gis.streets import D2, lonlat


def _brute_force(weights: np.ndarray, cover: np.ndarray, k: int) -> float:
    best = 0.0
    for sites in itertools.combinations(range(cover.shape[1]), k):
        best = max(best, float(weights[cover[:, list(sites)].any(axis=1)].sum()))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_milp_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows, cols, k = 25, 10, 3
    cover = rng.random((rows, cols)) < 0.2
    weights = rng.integers(1, 100, rows).astype(float)
    chosen, _status, optimal, gap = solve_max_coverage(weights, csr_matrix(cover.astype(float)), k)
    assert optimal and gap == pytest.approx(0.0, abs=1e-9)
    assert len(chosen) <= k
    got = float(weights[cover[:, chosen].any(axis=1)].sum()) if chosen else 0.0
    assert got == pytest.approx(_brute_force(weights, cover, k))
    greedy = greedy_max_coverage(weights, csr_matrix(cover.astype(float)), k)
    assert float(weights[cover[:, greedy].any(axis=1)].sum()) <= got + 1e-9


def test_greedy_is_beaten_where_it_is_myopic() -> None:
    # Column 0 covers the most alone; columns 1 and 2 together cover everything.
    cover = np.array(
        [[1, 1, 0], [1, 1, 0], [1, 0, 1], [1, 0, 1], [0, 1, 0], [0, 0, 1]], dtype=float
    )
    weights = np.array([10, 10, 10, 10, 8, 8], dtype=float)
    chosen, *_ = solve_max_coverage(weights, csr_matrix(cover), 2)
    assert sorted(chosen) == [1, 2]
    greedy = greedy_max_coverage(weights, csr_matrix(cover), 2)
    assert greedy[0] == 0
    assert weights[cover[:, greedy].any(axis=1) > 0].sum() < weights.sum()


@pytest.fixture
def town(empty_engine: Engine) -> Engine:
    build_town(empty_engine)
    return empty_engine


def test_siting_among_given_points_brings_the_far_building_within(town: Engine) -> None:
    # B-FAR (80 residents) is ~990 m from S-EAST: beyond 10 min (750 m). A site by N1800
    # reaches it; one on the main street's west end reaches no one beyond the limit.
    candidates = [
        {"lon": lonlat(1790, 320)[0], "lat": lonlat(1790, 320)[1], "label": "by N1800"},
        {"lon": lonlat(20, 490)[0], "lat": lonlat(20, 490)[1], "label": "far west"},
    ]
    with town.connect() as conn:
        result = site_stations(
            conn, new_sites=1, candidates=candidates, minutes=10, walk_speed_kmh=SPEED_KMH
        )
    assert result.optimal and result.useful_candidates == 1
    (site,) = result.sites
    assert site.label == "by N1800" and site.district_code == D2
    assert site.new_residents == BUILDINGS["B-FAR"][1]
    total = sum(r for _, r in BUILDINGS.values())
    unconnected = BUILDINGS["B-FRAGMENT"][1]
    assert result.residents == total
    assert result.covered_before == total - unconnected - BUILDINGS["B-FAR"][1]
    assert result.covered_after == total - unconnected
    assert result.greedy_covered_after == result.covered_after
    by = {d.code: d for d in result.by_district}
    assert by[D2].covered_after - by[D2].covered_before == BUILDINGS["B-FAR"][1]


def test_siting_among_facilities_of_other_kinds(town: Engine) -> None:
    with town.connect() as conn:
        result = site_stations(
            conn, new_sites=2, candidates="facilities", minutes=10, walk_speed_kmh=SPEED_KMH
        )
    # The waste point by N1800 is the only other facility; it reaches B-FAR.
    assert [s.label for s in result.sites] == ["W-1"]
    assert result.candidates == 1


def test_siting_among_buildings(town: Engine) -> None:
    with town.connect() as conn:
        one = site_stations(conn, new_sites=1, minutes=10, walk_speed_kmh=SPEED_KMH)
        two = site_stations(conn, new_sites=2, minutes=10, walk_speed_kmh=SPEED_KMH)
    # Beyond the limit: B-FAR (80 residents) and B-FRAGMENT (20, on the unconnected
    # fragment: a station on that street would serve it). One site: B-FAR's 80 win.
    assert [s.label for s in one.sites] == ["B-FAR"]
    assert {s.label for s in two.sites} == {"B-FAR", "B-FRAGMENT"}
    assert two.covered_after == two.residents


def test_too_many_useful_candidates_are_refused(
    town: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gis.service_areas.siting.MAX_USEFUL_CANDIDATES", 1)
    with town.connect() as conn, pytest.raises(InvalidInput, match="candidates reach"):
        site_stations(conn, new_sites=1, minutes=10, walk_speed_kmh=SPEED_KMH)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"new_sites": 0}, "new_sites"),
        ({"new_sites": 1000}, "new_sites"),
        ({"new_sites": 1, "candidates": "towers"}, "candidates"),
        ({"new_sites": 1, "candidates": []}, "candidates"),
        ({"new_sites": 1, "candidates": [{"lon": 104.0, "lat": 95.0}]}, r"candidates\[0\]: lat"),
        ({"new_sites": 1, "candidates": [{"lon": "x", "lat": 30.0}]}, r"candidates\[0\]: lon"),
        (
            {"new_sites": 1, "candidates": [{"lon": 104.0, "lat": 30.0, "label": ""}]},
            r"candidates\[0\]: label",
        ),
        ({"new_sites": 1, "kind": "tower"}, "unknown facility kind"),
    ],
)
def test_bad_siting_input_is_named(town: Engine, options: dict[str, object], named: str) -> None:
    with town.connect() as conn, pytest.raises(InvalidInput, match=named):
        site_stations(conn, **options)  # type: ignore[arg-type]


def test_chunked_coverage_matches_networkx(town: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # Many candidate points over the town, searched three at a time on the part of the graph
    # each chunk reaches: which demand building each covers must be what a plain Dijkstra on
    # the whole (networkx) graph says.
    monkeypatch.setattr("gis.service_areas.siting._CHUNK", 3)
    limit = check_limit(minutes=10, walk_speed_kmh=SPEED_KMH)
    spots = {
        f"C{x:.0f}-{y:.0f}": (x, y)
        for x in np.linspace(100.0, 1900.0, 10)
        for y in (160.0, 320.0, 480.0, 720.0)
    }
    names = list(spots)
    with town.connect() as conn:
        city = load_walk_city(conn, limit, extra=[lonlat(*spots[n]) for n in names])
        walks = nearest_walks(city)
    demand = np.flatnonzero(~walks.within(limit.limit_m) & (city.buildings.residents > 0))
    codes = [city.buildings.codes[i] for i in demand]
    assert set(codes) == {"B-FAR", "B-FRAGMENT"}
    lonlats = np.array([lonlat(*spots[n]) for n in names])
    problem, useful = coverage_problem(
        city, demand, city.extra_nodes(len(names)), city.extra_offsets(len(names)), lonlats
    )
    column = {int(j): k for k, j in enumerate(useful)}
    graph = reference_graph({**spots, **{c: BUILDINGS[c][0] for c in codes}})
    checked = 0
    for i, code in enumerate(codes):
        reach = nx.single_source_dijkstra_path_length(graph, code)
        row = problem.rows_of_building[i]
        covering = set() if row < 0 else set(problem.cover[row].indices.tolist())
        for j, name in enumerate(names):
            walk = reach.get(name, math.inf)
            if abs(walk - limit.limit_m) < 2.0:
                continue  # snapping differs from the reference by centimetres
            assert (column.get(j) in covering) == (walk <= limit.limit_m), (code, name, walk)
            checked += walk <= limit.limit_m
    assert checked >= 3  # some candidates do cover the far building
