"""Where new facilities help most: the ``new_sites`` candidates that bring the most residents not
yet within the walk limit within it (maximum coverage location).

1. the buildings beyond the limit today (``gaps.nearest_walks``) are the demand, weighed by
   residents;
2. candidates a walk of the limit cannot link to any such building are dropped (one
   multi-source Dijkstra from the demand), and so is every node of the graph farther than the
   limit from all of it: a walk within the limit never leaves that part of the graph;
3. each remaining candidate's bounded Dijkstra on that part gives the demand it covers;
   buildings covered by the same candidates are one demand row;
4. the maximum coverage MILP (binary sites ``x``, covered rows ``0 <= y <= 1``,
   ``y_i <= sum x_j`` over the candidates covering row i, ``sum x <= new_sites``) is solved
   exactly with HiGHS (``scipy.optimize.milp``); its status and MIP gap are reported. The
   greedy heuristic (largest marginal coverage first) is computed beside it as the baseline.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra
from sqlalchemy import Connection

from gis.core.errors import InvalidInput
from gis.service_areas.gaps import nearest_walks
from gis.service_areas.network import FloatArray, IntArray
from gis.service_areas.walk import (
    DEFAULT_KIND,
    DEFAULT_MINUTES,
    DEFAULT_WALK_SPEED_KMH,
    WalkCity,
    check_limit,
    load_districts,
    load_facilities,
    load_walk_city,
)

MAX_NEW_SITES = 100
MAX_GIVEN_CANDIDATES = 50_000
# Candidates within reach of a building beyond the limit that one request compares at most
# (each needs its own bounded Dijkstra; a whole city's buildings would run for an hour).
MAX_USEFUL_CANDIDATES = 20_000
DEFAULT_TIME_LIMIT_S = 60.0
CANDIDATE_SOURCES = ("buildings", "facilities")
# Candidates searched together on the part of the graph they reach (see coverage_problem).
_CHUNK = 64


@dataclass(frozen=True)
class Candidate:
    """A possible site: where it is and what it is called (a building or facility code, or the
    label given)."""

    label: str
    lon: float
    lat: float


def check_candidates(value: object) -> str | list[Candidate]:
    """``"buildings"``, ``"facilities"`` or a list of ``{lon, lat, label}``; else
    ``InvalidInput`` naming the bad entry."""
    if isinstance(value, str):
        if value not in CANDIDATE_SOURCES:
            raise InvalidInput(
                f"candidates must be 'buildings', 'facilities' or a list of "
                f"{{lon, lat, label}} points, got {value!r}"
            )
        return value
    if not isinstance(value, list) or not value:
        raise InvalidInput(
            "candidates must be 'buildings', 'facilities' or a non-empty list of "
            "{lon, lat, label} points"
        )
    if len(value) > MAX_GIVEN_CANDIDATES:
        raise InvalidInput(f"at most {MAX_GIVEN_CANDIDATES} candidate points, got {len(value)}")
    out = []
    for k, item in enumerate(value):
        if isinstance(item, Candidate):
            item = asdict(item)
        if not isinstance(item, dict):
            raise InvalidInput(f"candidates[{k}]: expected {{lon, lat, label}}, got {item!r}")
        lon, lat, label = item.get("lon"), item.get("lat"), item.get("label", f"site {k + 1}")
        if (
            not isinstance(lon, int | float)
            or isinstance(lon, bool)
            or not (math.isfinite(lon) and -180 <= lon <= 180)
        ):
            raise InvalidInput(f"candidates[{k}]: lon must be a number in [-180, 180], got {lon!r}")
        if (
            not isinstance(lat, int | float)
            or isinstance(lat, bool)
            or not (math.isfinite(lat) and -90 <= lat <= 90)
        ):
            raise InvalidInput(f"candidates[{k}]: lat must be a number in [-90, 90], got {lat!r}")
        if not isinstance(label, str) or not label.strip():
            raise InvalidInput(f"candidates[{k}]: label must be a non-empty text, got {label!r}")
        out.append(Candidate(label=label, lon=float(lon), lat=float(lat)))
    return out


@dataclass(frozen=True)
class Site:
    """A chosen site and the residents (buildings) it newly brings within the limit."""

    label: str
    lon: float
    lat: float
    district_code: str | None
    new_residents: int
    new_buildings: int


@dataclass(frozen=True)
class DistrictCoverage:
    code: str | None
    name: str | None
    residents: int
    covered_before: int
    covered_after: int


@dataclass(frozen=True)
class Siting:
    """The answer of ``site_stations``."""

    kind: str
    minutes: float
    walk_speed_kmh: float
    new_sites: int
    candidates: int
    useful_candidates: int
    residents: int
    covered_before: int
    covered_after: int
    status: str
    optimal: bool
    mip_gap: float | None
    solve_s: float
    greedy_covered_after: int
    sites: list[Site] = field(default_factory=list)
    greedy_sites: list[str] = field(default_factory=list)
    by_district: list[DistrictCoverage] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CoverageProblem:
    """Demand rows (weights) and which candidates cover each: ``cover[i, j]`` = 1."""

    weights: FloatArray
    cover: csr_matrix
    rows_of_building: IntArray  # per uncovered building: its demand row (-1: none covers it)


def solve_max_coverage(
    weights: FloatArray, cover: csr_matrix, k: int, *, time_limit_s: float = DEFAULT_TIME_LIMIT_S
) -> tuple[list[int], str, bool, float | None]:
    """Exact maximum coverage with HiGHS: the chosen candidate columns, status, whether proven
    optimal, and the MIP gap."""
    n_rows, n_cols = cover.shape
    if n_rows == 0 or n_cols == 0 or k == 0:
        return [], "nothing to cover", True, 0.0
    # Variables: x (n_cols, binary) then y (n_rows, continuous in [0, 1]).
    c = np.concatenate([np.zeros(n_cols), -weights])
    link = _link(cover)
    budget = csr_matrix(np.concatenate([np.ones(n_cols), np.zeros(n_rows)])[None, :])
    constraints = [
        LinearConstraint(link, -np.inf, 0.0),
        LinearConstraint(budget, 0.0, float(k)),
    ]
    integrality = np.concatenate([np.ones(n_cols), np.zeros(n_rows)])
    result = milp(
        c,
        constraints=constraints,
        integrality=integrality,
        bounds=Bounds(0.0, 1.0),
        options={"time_limit": time_limit_s, "mip_rel_gap": 0.0},
    )
    if result.x is None:
        return [], str(result.message), False, None
    x = result.x[:n_cols]
    chosen = [int(j) for j in np.flatnonzero(x > 0.5)]
    gap = getattr(result, "mip_gap", None)
    return (
        chosen,
        str(result.message),
        bool(result.status == 0),
        (None if gap is None else float(gap)),
    )


def _link(cover: csr_matrix) -> csr_matrix:
    """``[-cover | I]``: row i reads ``y_i - sum_j cover[i, j] x_j``."""
    n_rows, n_cols = cover.shape
    c = cover.tocoo()
    rows = np.concatenate([c.row, np.arange(n_rows)])
    cols = np.concatenate([c.col, n_cols + np.arange(n_rows)])
    vals = np.concatenate([-c.data, np.ones(n_rows)])
    return coo_matrix((vals, (rows, cols)), shape=(n_rows, n_cols + n_rows)).tocsr()


def greedy_max_coverage(weights: FloatArray, cover: csr_matrix, k: int) -> list[int]:
    """Largest marginal coverage first, ``k`` times (the baseline)."""
    left = weights.astype(np.float64).copy()
    cols = cover.tocsc()
    chosen: list[int] = []
    for _ in range(min(k, cover.shape[1])):
        gains = np.asarray(cols.T @ left).ravel()
        if chosen:
            gains[chosen] = -1
        best = int(np.argmax(gains))
        if gains[best] <= 0:
            break
        chosen.append(best)
        left[cols[:, best].nonzero()[0]] = 0.0
    return chosen


def coverage_problem(
    city: WalkCity,
    demand: IntArray,
    cand_nodes: IntArray,
    cand_offsets: FloatArray,
    cand_lonlat: FloatArray,
) -> tuple[CoverageProblem, IntArray]:
    """The candidates covering each ``demand`` building within the limit; also which
    candidates cover anything (indices into ``cand_nodes``). ``cand_lonlat`` (n × 2, degrees)
    only groups nearby candidates."""
    graph = city.graph
    assert graph is not None
    limit_m = city.limit.limit_m
    d_nodes = city.building_nodes[demand]
    d_offsets = city.building_offsets[demand]
    # Lower bound of every node's walk to the demand (legs left out): beyond the limit,
    # no covering walk passes there.
    near = np.asarray(
        dijkstra(
            graph.matrix, directed=False, indices=np.unique(d_nodes), min_only=True, limit=limit_m
        ),
        dtype=np.float64,
    )
    useful = np.flatnonzero(near[cand_nodes] + cand_offsets <= limit_m)
    if len(useful) > MAX_USEFUL_CANDIDATES:
        raise InvalidInput(
            f"{len(useful):,} candidates reach a building beyond the limit; at most "
            f"{MAX_USEFUL_CANDIDATES:,} can be compared in one request: pass fewer candidate "
            "points (e.g. buildings of the districts concerned)"
        )
    keep = np.flatnonzero(np.isfinite(near))
    local = np.full(graph.nodes, -1, dtype=np.int64)
    local[keep] = np.arange(len(keep))
    sub = graph.matrix[keep][:, keep]
    rows: list[IntArray] = []
    cols: list[IntArray] = []
    d_local = local[d_nodes]
    # scipy's Dijkstra fills a row as long as the graph per source, whatever the limit: on a
    # city of a million buildings that, not the search, is the cost. So candidates go in
    # compact chunks (Z-order of limit-sized cells); one multi-source search finds the part
    # of the graph a chunk can reach within the limit, and the chunk's own searches run on
    # that small part only.
    order = useful[_z_order(cand_lonlat[useful], limit_m)]
    position = np.empty(len(cand_nodes), dtype=np.int64)
    position[useful] = np.arange(len(useful))
    for first in range(0, len(order), _CHUNK):
        chunk = order[first : first + _CHUNK]
        sources = local[cand_nodes[chunk]]
        reach = dijkstra(sub, directed=False, indices=sources, min_only=True, limit=limit_m)
        part = np.flatnonzero(np.isfinite(reach))
        in_part = np.full(sub.shape[0], -1, dtype=np.int64)
        in_part[part] = np.arange(len(part))
        d_sel = np.flatnonzero(in_part[d_local] >= 0)
        if len(d_sel) == 0:
            continue
        dist = np.atleast_2d(
            dijkstra(sub[part][:, part], directed=False, indices=in_part[sources], limit=limit_m)
        )
        walk = (
            dist[:, in_part[d_local[d_sel]]]
            + d_offsets[d_sel][None, :]
            + cand_offsets[chunk][:, None]
        )
        c_idx, d_idx = np.nonzero(walk <= limit_m)
        rows.append(d_sel[d_idx])
        cols.append(position[chunk[c_idx]])
    d_all = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    c_all = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    by_building = coo_matrix(
        (np.ones(len(d_all)), (d_all, c_all)), shape=(len(demand), len(useful))
    ).tocsr()
    # Buildings covered by the same candidates are one row, weighed by their residents.
    by_building.sort_indices()
    keys = [
        by_building.indices[by_building.indptr[i] : by_building.indptr[i + 1]].tobytes()
        for i in range(len(demand))
    ]
    row_of: dict[bytes, int] = {}
    rows_of_building = np.full(len(demand), -1, dtype=np.int64)
    weights: list[float] = []
    residents = city.buildings.residents[demand]
    pattern_rows: list[int] = []
    for i, key in enumerate(keys):
        if not key:
            continue
        r = row_of.get(key)
        if r is None:
            r = row_of[key] = len(weights)
            weights.append(0.0)
            pattern_rows.append(i)
        weights[r] += float(residents[i])
        rows_of_building[i] = r
    cover = by_building[pattern_rows] if pattern_rows else csr_matrix((0, len(useful)))
    cover.data[:] = 1.0
    return CoverageProblem(np.array(weights), csr_matrix(cover), rows_of_building), useful


def _z_order(lonlat: FloatArray, cell_m: float) -> IntArray:
    """Indices of ``lonlat`` sorted along a Z-order curve of ``cell_m`` cells, so that
    consecutive points are near one another."""
    if len(lonlat) == 0:
        return np.zeros(0, dtype=np.int64)
    lat0 = math.radians(float(np.mean(lonlat[:, 1])))
    x = (lonlat[:, 0] - lonlat[:, 0].min()) * 111_320.0 * math.cos(lat0) / cell_m
    y = (lonlat[:, 1] - lonlat[:, 1].min()) * 110_540.0 / cell_m
    cx = np.clip(x, 0, 0xFFFF).astype(np.uint64)
    cy = np.clip(y, 0, 0xFFFF).astype(np.uint64)
    return np.argsort(_spread_bits(cx) | (_spread_bits(cy) << np.uint64(1)), kind="stable")


def _spread_bits(v: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The 16 low bits of ``v`` moved to the even bit positions (Morton code half)."""
    v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF)
    v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F)
    v = (v | (v << np.uint64(2))) & np.uint64(0x33333333)
    return (v | (v << np.uint64(1))) & np.uint64(0x55555555)


def _candidates(
    conn: Connection, city_kind: str, candidates: str | list[Candidate]
) -> list[Candidate]:
    if isinstance(candidates, list):
        return candidates
    if candidates == "facilities":
        others = load_facilities(conn, load_districts(conn), kind=city_kind, other_kinds=True)
        return [
            Candidate(code, float(x), float(y))
            for code, x, y in zip(others.codes, others.lon, others.lat, strict=True)
        ]
    return []  # buildings: their own nodes, no extra points


def site_stations(
    conn: Connection,
    *,
    new_sites: int,
    candidates: object = "buildings",
    kind: str = DEFAULT_KIND,
    minutes: float = DEFAULT_MINUTES,
    walk_speed_kmh: float = DEFAULT_WALK_SPEED_KMH,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
) -> Siting:
    """The ``new_sites`` candidates bringing the most residents within the walk limit of a
    facility of ``kind`` (exact maximum coverage), with the greedy baseline beside it."""
    limit = check_limit(kind=kind, minutes=minutes, walk_speed_kmh=walk_speed_kmh)
    if (
        isinstance(new_sites, bool)
        or not isinstance(new_sites, int)
        or not (1 <= new_sites <= MAX_NEW_SITES)
    ):
        raise InvalidInput(
            f"new_sites must be a whole number from 1 to {MAX_NEW_SITES}, got {new_sites!r}"
        )
    source = check_candidates(candidates)
    given = _candidates(conn, kind, source)
    city = load_walk_city(conn, limit, extra=[(c.lon, c.lat) for c in given])
    b = city.buildings
    walks = nearest_walks(city)
    covered = walks.within(limit.limit_m)
    demand = np.flatnonzero(~covered & (b.residents > 0))
    if source == "buildings":
        labels = list(b.codes)
        lons, lats = b.lon, b.lat
        districts = b.district
        cand_nodes = city.building_nodes if city.graph is not None else np.zeros(0, np.int64)
        cand_offsets = city.building_offsets if city.graph is not None else np.zeros(0)
    else:
        labels = [c.label for c in given]
        lons = np.array([c.lon for c in given])
        lats = np.array([c.lat for c in given])
        districts = city.districts.locate(lons, lats)
        cand_nodes = (
            city.extra_nodes(len(given)) if city.graph is not None else np.zeros(0, np.int64)
        )
        cand_offsets = city.extra_offsets(len(given)) if city.graph is not None else np.zeros(0)
    start = time.perf_counter()
    if city.graph is None or len(demand) == 0 or len(cand_nodes) == 0:
        problem = CoverageProblem(np.zeros(0), csr_matrix((0, 0)), np.full(len(demand), -1))
        useful = np.zeros(0, dtype=np.int64)
    else:
        problem, useful = coverage_problem(
            city, demand, cand_nodes, cand_offsets, np.column_stack([lons, lats])
        )
    chosen, status, optimal, gap = solve_max_coverage(
        problem.weights, problem.cover, new_sites, time_limit_s=time_limit_s
    )
    solve_s = time.perf_counter() - start
    greedy = greedy_max_coverage(problem.weights, problem.cover, new_sites)

    def newly(columns: list[int]) -> np.ndarray:
        """Per demand building: whether one of ``columns`` covers it."""
        if not columns:
            return np.zeros(len(demand), dtype=bool)
        hit_rows = np.asarray(problem.cover[:, columns].sum(axis=1)).ravel() > 0
        rows = problem.rows_of_building
        return (rows >= 0) & hit_rows[np.maximum(rows, 0)]

    gained = newly(chosen)
    after = covered.copy()
    after[demand[gained]] = True
    sites = []
    for col in chosen:
        alone = newly([col])
        j = int(useful[col])
        sites.append(
            Site(
                label=labels[j],
                lon=round(float(lons[j]), 7),
                lat=round(float(lats[j]), 7),
                district_code=districts[j],
                new_residents=int(b.residents[demand[alone]].sum()),
                new_buildings=int(alone.sum()),
            )
        )
    sites.sort(key=lambda s: -s.new_residents)
    greedy_after = int(b.residents[covered].sum() + b.residents[demand[newly(greedy)]].sum())
    labels_d = np.array([d or "" for d in b.district], dtype=object)
    by_district = [
        DistrictCoverage(
            code=code or None,
            name=city.districts.names.get(code) if code else None,
            residents=int(b.residents[labels_d == code].sum()),
            covered_before=int(b.residents[(labels_d == code) & covered].sum()),
            covered_after=int(b.residents[(labels_d == code) & after].sum()),
        )
        for code in sorted(set(labels_d.tolist()))
    ]
    return Siting(
        kind=limit.kind,
        minutes=limit.minutes,
        walk_speed_kmh=limit.walk_speed_kmh,
        new_sites=new_sites,
        candidates=len(labels),
        useful_candidates=len(useful),
        residents=int(b.residents.sum()),
        covered_before=int(b.residents[covered].sum()),
        covered_after=int(b.residents[after].sum()),
        status=status,
        optimal=optimal,
        mip_gap=gap,
        solve_s=round(solve_s, 3),
        greedy_covered_after=greedy_after,
        sites=sites,
        greedy_sites=[labels[int(useful[c])] for c in greedy],
        by_district=by_district,
    )
