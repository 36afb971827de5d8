"""Generator of the demo city (committed in ``data/demo/``) and of large benchmark cities.

The city is a warped, jittered quad mesh of ~100 m cells. Every administrative unit is a union
of mesh cells, so neighbouring polygons share their vertices exactly and grids tile their
communities with no gaps or overlaps except where this generator plants them on purpose:

- three districts meeting at a triple junction (A west, B north-east, C south-east);
- one community, ``三河社区``, straddling all three districts around that junction, plus an
  exclave lying inside district B (插花地);
- in the demo: a gap, an overlap and a sub-1 m² sliver between grids, a building split across
  two grids and a building outside every grid; ``planted.json`` lists them.

Everything is vectorised (numpy/shapely 2) so ``--grids 10000 --buildings 1000000`` runs in
about a minute. ``python -m data.generate --help`` shows the options.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import Transformer

from data import DEMO_DIR
from gis.city import HOUSEHOLDS_FILE, LAYER_ORDER, REPORTS_FILE, VISITS_FILE
from gis.core.vocabulary import CARE_VISIT_DAYS, ReportStatus

SEED = 20261123
CELL_M = 100.0
TILE_CELLS = 4  # a base grid is 4 x 4 cells
CENTER_LONLAT = (104.06, 30.66)
METRIC_CRS = "EPSG:32648"  # UTM 48N: metres for this extent
DISTRICT_CODES = ("990101", "990102", "990103")
DISTRICT_NAMES = ("河西区", "河东区", "南湖区")
SUBDISTRICT_NAMES = (
    "东风",
    "红星",
    "建设",
    "解放",
    "人民",
    "和平",
    "光明",
    "文化",
    "新华",
    "长安",
    "锦江",
    "青羊",
)
COMMUNITY_NAMES = (
    "柳荫",
    "春晖",
    "金桥",
    "梧桐",
    "锦绣",
    "翠苑",
    "兴隆",
    "安居",
    "望江",
    "清水",
    "玉泉",
    "桂花",
    "银杏",
    "芙蓉",
    "紫荆",
    "竹林",
    "荷塘",
    "枫林",
    "松园",
    "丹桂",
)
STRADDLING_NAME = "三河社区"
# Coordinates are rounded before writing so files hold exactly what was checked.
ADMIN_DECIMALS = 8
POINT_DECIMALS = 7


@dataclass(frozen=True)
class CitySpec:
    """Size and shape of a generated city."""

    grids: int = 64
    buildings: int = 3456
    grids_per_community: int = 8
    communities_per_subdistrict: int = 2
    plant_problems: bool = True
    seed: int = SEED
    reports: int = 24_000


DEMO = CitySpec()


# ----------------------------------------------------------------------------- mesh
def _split(rect: tuple[int, int, int, int], n: int) -> list[tuple[int, int, int, int]]:
    """Split a tile rectangle (x, y, w, h) into ``n`` near-equal rectangles by bisection."""
    x, y, w, h = rect
    if n <= 1 or w * h <= 1:
        return [rect]
    n1 = n // 2
    if w >= h:
        w1 = max(1, min(w - 1, round(w * n1 / n)))
        return _split((x, y, w1, h), n1) + _split((x + w1, y, w - w1, h), n - n1)
    h1 = max(1, min(h - 1, round(h * n1 / n)))
    return _split((x, y, w, h1), n1) + _split((x, y + h1, w, h - h1), n - n1)


def _mesh(nx: int, ny: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Vertex coordinates in metres (relative to the city centre): jitter plus a gentle warp."""
    ix, iy = np.meshgrid(np.arange(nx + 1), np.arange(ny + 1), indexing="ij")
    x = (ix - nx / 2) * CELL_M + rng.uniform(-0.18, 0.18, ix.shape) * CELL_M
    y = (iy - ny / 2) * CELL_M + rng.uniform(-0.18, 0.18, iy.shape) * CELL_M
    wave = 1600.0
    x2 = x + 70.0 * np.sin(y / wave * 2 * math.pi)
    y2 = y + 55.0 * np.sin(x / (wave * 1.3) * 2 * math.pi + 0.7)
    return x2, y2


class _Projector:
    """Local metres ↔ lon/lat through the UTM zone of the city centre."""

    def __init__(self) -> None:
        to_metric = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
        self.cx, self.cy = to_metric.transform(*CENTER_LONLAT)
        self._to_lonlat = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)

    def lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = self._to_lonlat.transform(x + self.cx, y + self.cy)
        return np.asarray(lon), np.asarray(lat)


# ----------------------------------------------------------------------------- hierarchy
@dataclass
class _Labels:
    """Per-cell labels (arrays of shape nx × ny)."""

    district: np.ndarray
    subdistrict: np.ndarray
    community: np.ndarray
    grid: np.ndarray


def _hierarchy(spec: CitySpec) -> tuple[int, int, _Labels, dict[str, Any]]:
    side = max(2, math.ceil(math.sqrt(spec.grids)))
    side += side % 2
    tw = th = side
    nx, ny = tw * TILE_CELLS, th * TILE_CELLS
    half_w, half_h = tw // 2, th // 2
    district_rects = [
        (0, 0, half_w, th),
        (half_w, half_h, tw - half_w, th - half_h),
        (half_w, 0, tw - half_w, half_h),
    ]
    tile_grid = np.full((tw, th), -1, dtype=np.int64)
    tile_comm = np.full((tw, th), -1, dtype=np.int64)
    tile_sub = np.full((tw, th), -1, dtype=np.int64)
    tile_dist = np.full((tw, th), -1, dtype=np.int64)
    subdistricts: list[dict[str, Any]] = []
    communities: list[dict[str, Any]] = []
    grids: list[dict[str, Any]] = []
    per_sub = spec.grids_per_community * spec.communities_per_subdistrict
    for d, rect in enumerate(district_rects):
        n_tiles = rect[2] * rect[3]
        sub_rects = _split(rect, max(2, round(n_tiles / per_sub)))
        for s_serial, srect in enumerate(sub_rects, start=1):
            s_idx = len(subdistricts)
            subdistricts.append({"code": f"{DISTRICT_CODES[d]}{s_serial:03d}", "district": d})
            n_comm = max(2, round(srect[2] * srect[3] / spec.grids_per_community))
            for c_serial, crect in enumerate(_split(srect, n_comm), start=1):
                c_idx = len(communities)
                communities.append(
                    {"code": f"{subdistricts[s_idx]['code']}{c_serial:03d}", "sub": s_idx}
                )
                cx, cy, cw, ch = crect
                serial = 0
                for gy in range(cy + ch - 1, cy - 1, -1):  # number grids north to south
                    for gx in range(cx, cx + cw):
                        serial += 1
                        tile_grid[gx, gy] = len(grids)
                        grids.append(
                            {"code": f"{communities[c_idx]['code']}{serial:03d}", "comm": c_idx}
                        )
                        tile_comm[gx, gy] = c_idx
                        tile_sub[gx, gy] = s_idx
                        tile_dist[gx, gy] = d

    def cells(tile: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(tile, TILE_CELLS, axis=0), TILE_CELLS, axis=1)

    labels = _Labels(cells(tile_dist), cells(tile_sub), cells(tile_comm), cells(tile_grid))

    # The straddling community around the triple junction, owned by district A.
    jx, jy = half_w * TILE_CELLS, half_h * TILE_CELLS
    owner_sub = int(tile_sub[half_w - 1, half_h])
    serial = 1 + sum(1 for c in communities if c["sub"] == owner_sub)
    s_comm = len(communities)
    s_code = f"{subdistricts[owner_sub]['code']}{serial:03d}"
    communities.append({"code": s_code, "sub": owner_sub, "name": STRADDLING_NAME})
    body_cols = [(jx - 3, jx - 1), (jx - 1, jx + 1), (jx + 1, jx + 3)]
    for g_serial, (x0, x1) in enumerate(body_cols, start=1):
        g_idx = len(grids)
        grids.append({"code": f"{s_code}{g_serial:03d}", "comm": s_comm})
        labels.grid[x0:x1, jy - 2 : jy + 3] = g_idx
    exclave = (slice(jx + 6, jx + 8), slice(jy + 4, jy + 6))
    g_idx = len(grids)
    grids.append({"code": f"{s_code}004", "comm": s_comm, "exclave": True})
    labels.grid[exclave] = g_idx
    s_mask = np.zeros_like(labels.grid, dtype=bool)
    s_mask[jx - 3 : jx + 3, jy - 2 : jy + 3] = True
    s_mask[exclave] = True
    labels.community[s_mask] = s_comm
    labels.subdistrict[s_mask] = owner_sub

    # Grids emptied by the straddler vanish; codes stay as generated (serials may skip).
    used = set(np.unique(labels.grid).tolist())
    meta = {
        "subdistricts": subdistricts,
        "communities": communities,
        "grids": [g | {"idx": i} for i, g in enumerate(grids) if i in used],
        "straddling_community": s_code,
        "junction": (jx, jy),
    }
    return nx, ny, labels, meta


# ----------------------------------------------------------------------------- geometry
def _cell_polygons(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """One polygon per cell, row-major over (i, j), sharing vertices with its neighbours."""
    corners_lon = np.stack(
        [lon[:-1, :-1], lon[1:, :-1], lon[1:, 1:], lon[:-1, 1:], lon[:-1, :-1]], axis=-1
    )
    corners_lat = np.stack(
        [lat[:-1, :-1], lat[1:, :-1], lat[1:, 1:], lat[:-1, 1:], lat[:-1, :-1]], axis=-1
    )
    coords = np.stack([corners_lon, corners_lat], axis=-1).reshape(-1, 5, 2)
    polygons: np.ndarray = shapely.polygons(coords)
    return polygons


def _dissolve(cells: np.ndarray, labels: np.ndarray) -> dict[int, Any]:
    frame = gpd.GeoDataFrame({"label": labels.ravel()}, geometry=cells, crs=4326)
    merged = frame.dissolve(by="label", method="coverage")
    return {int(k): shapely.force_2d(g) for k, g in zip(merged.index, merged.geometry, strict=True)}


def _round(geoms: Any, decimals: int) -> Any:
    return shapely.transform(geoms, lambda c: np.round(c, decimals))


def _multi(geom: Any) -> Any:
    if geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    return geom


def _metric_point(
    x: np.ndarray, y: np.ndarray, i: np.ndarray, j: np.ndarray, u: np.ndarray, v: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear position (u, v in [0, 1]) inside cell (i, j) of the metric mesh."""
    x00, x10, x11, x01 = x[i, j], x[i + 1, j], x[i + 1, j + 1], x[i, j + 1]
    y00, y10, y11, y01 = y[i, j], y[i + 1, j], y[i + 1, j + 1], y[i, j + 1]
    px = (1 - u) * (1 - v) * x00 + u * (1 - v) * x10 + u * v * x11 + (1 - u) * v * x01
    py = (1 - u) * (1 - v) * y00 + u * (1 - v) * y10 + u * v * y11 + (1 - u) * v * y01
    return px, py


def _rectangles(
    cx: np.ndarray, cy: np.ndarray, half_w: np.ndarray, half_h: np.ndarray, angle: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Corner coordinates (n × 5) of rotated rectangles, in metres."""
    signs = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=float)
    dx = signs[None, :, 0] * half_w[:, None]
    dy = signs[None, :, 1] * half_h[:, None]
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    return cx[:, None] + dx * cos - dy * sin, cy[:, None] + dx * sin + dy * cos


def generate_city(spec: CitySpec = DEMO) -> dict[str, gpd.GeoDataFrame | dict[str, Any]]:
    """Build every layer of a city as GeoDataFrames in EPSG:4326, plus a manifest."""
    rng = np.random.default_rng(spec.seed)
    nx, ny, labels, meta = _hierarchy(spec)
    mx, my = _mesh(nx, ny, rng)
    proj = _Projector()
    lon, lat = proj.lonlat(mx, my)
    lon, lat = np.round(lon, ADMIN_DECIMALS), np.round(lat, ADMIN_DECIMALS)
    cells = _cell_polygons(lon, lat)

    districts_geom = _dissolve(cells, labels.district)
    subdistrict_geom = _dissolve(cells, labels.subdistrict)
    community_geom = _dissolve(cells, labels.community)
    grid_geom = _dissolve(cells, labels.grid)

    subdistrict_names = {}
    for i, _sub in enumerate(meta["subdistricts"]):
        base = SUBDISTRICT_NAMES[i % len(SUBDISTRICT_NAMES)]
        suffix = "" if i < len(SUBDISTRICT_NAMES) else str(i // len(SUBDISTRICT_NAMES) + 1)
        subdistrict_names[i] = f"{base}{suffix}街道"
    community_names = {}
    for i, comm in enumerate(meta["communities"]):
        if "name" in comm:
            community_names[i] = comm["name"]
            continue
        base = COMMUNITY_NAMES[i % len(COMMUNITY_NAMES)]
        suffix = "" if i < len(COMMUNITY_NAMES) else str(i // len(COMMUNITY_NAMES) + 1)
        community_names[i] = f"{base}{suffix}社区"

    planted: dict[str, Any] = {
        "gaps": [],
        "slivers": [],
        "overlaps": [],
        "split_buildings": [],
        "unassigned_buildings": [],
    }
    grid_rows = {g["idx"]: g for g in meta["grids"]}
    if spec.plant_problems:
        _plant_grid_problems(grid_geom, labels, meta, (mx, my), (lon, lat), proj, planted)

    districts = gpd.GeoDataFrame(
        {"code": list(DISTRICT_CODES), "name": list(DISTRICT_NAMES)},
        geometry=[_multi(districts_geom[d]) for d in range(3)],
        crs=4326,
    )
    subdistricts = gpd.GeoDataFrame(
        {
            "code": [s["code"] for s in meta["subdistricts"]],
            "name": [subdistrict_names[i] for i in range(len(meta["subdistricts"]))],
        },
        geometry=[_multi(subdistrict_geom[i]) for i in range(len(meta["subdistricts"]))],
        crs=4326,
    )
    communities = gpd.GeoDataFrame(
        {
            "code": [c["code"] for c in meta["communities"]],
            "name": [community_names[i] for i in range(len(meta["communities"]))],
        },
        geometry=[_multi(community_geom[i]) for i in range(len(meta["communities"]))],
        crs=4326,
    )
    grid_idx = sorted(grid_rows)
    grid_serial_in_comm: dict[int, int] = {}
    grid_names = []
    for i in grid_idx:
        comm = grid_rows[i]["comm"]
        grid_serial_in_comm[comm] = grid_serial_in_comm.get(comm, 0) + 1
        grid_names.append(f"{community_names[comm]}第{grid_serial_in_comm[comm]}网格")
    grids = gpd.GeoDataFrame(
        {"code": [grid_rows[i]["code"] for i in grid_idx], "name": grid_names},
        geometry=[_multi(grid_geom[i]) for i in grid_idx],
        crs=4326,
    )

    buildings = _buildings(spec, rng, labels, mx, my, proj, planted)
    facilities = _facilities(rng, labels, meta, mx, my, proj)
    roads = _roads(lon, lat)
    reports, clusters = generate_reports(buildings, n=spec.reports, seed=spec.seed)
    skip = {*planted["split_buildings"], *planted["unassigned_buildings"]}
    households, visits = generate_households(buildings, seed=spec.seed, skip=skip)

    manifest = {
        "seed": spec.seed,
        "spec": spec.__dict__,
        "counts": {
            "districts": len(districts),
            "subdistricts": len(subdistricts),
            "communities": len(communities),
            "grids": len(grids),
            "buildings": len(buildings),
            "facilities": len(facilities),
            "roads": len(roads),
        },
        "residents": int(buildings["residents"].sum()),
        "straddling_community": meta["straddling_community"],
        "metric_crs": METRIC_CRS,
        "report_history": {
            "reports": len(reports),
            "year": REPORT_YEAR,
            "timezone": "+08:00",
            "clusters": clusters,
        },
        "household_registry": {
            "households": len(households),
            "with_care": int((households["care"] != "").sum()),
            "visits": len(visits),
        },
    }
    return {
        "districts": districts,
        "subdistricts": subdistricts,
        "communities": communities,
        "grids": grids,
        "buildings": buildings,
        "facilities": facilities,
        "roads": roads,
        "reports": reports,
        "households": households,
        "visits": visits,
        "manifest": manifest,
        "planted": planted,
    }


def _shared_edges(labels: _Labels, comm_filter: np.ndarray) -> list[tuple[int, int]]:
    """Cells (i, j) whose east neighbour is another grid of the same community."""
    g, c = labels.grid, labels.community
    same_comm = (c[:-1, :] == c[1:, :]) & (g[:-1, :] != g[1:, :]) & comm_filter[:-1, :]
    return [(int(i), int(j)) for i, j in np.argwhere(same_comm)]


def _plant_grid_problems(
    grid_geom: dict[int, Any],
    labels: _Labels,
    meta: dict[str, Any],
    metric: tuple[np.ndarray, np.ndarray],
    lonlat: tuple[np.ndarray, np.ndarray],
    proj: _Projector,
    planted: dict[str, Any],
) -> None:
    """A gap, an overlap and a sliver, each on an edge shared by two grids of one community."""
    s_comm = next(
        i for i, c in enumerate(meta["communities"]) if c["code"] == meta["straddling_community"]
    )
    not_straddling = labels.community != s_comm
    code_of = {g["idx"]: g["code"] for g in meta["grids"]}
    mx, my = metric
    mesh_lon, mesh_lat = lonlat

    def pick(district: int, nth: int) -> tuple[int, int]:
        edges = _shared_edges(labels, not_straddling & (labels.district == district))
        return edges[nth * 7 % len(edges)]

    def triangle(i: int, j: int, offset_m: float) -> Any:
        # Base: the shared edge from vertex (i+1, j) to (i+1, j+1); apex offset west (<0)
        # into cell (i, j) or east (>0) into cell (i+1, j), perpendicular to the edge.
        x0, y0, x1, y1 = mx[i + 1, j], my[i + 1, j], mx[i + 1, j + 1], my[i + 1, j + 1]
        length = math.hypot(x1 - x0, y1 - y0)
        nx_, ny_ = (y1 - y0) / length, -(x1 - x0) / length  # unit normal pointing east
        ax, ay = (x0 + x1) / 2 + nx_ * offset_m, (y0 + y1) / 2 + ny_ * offset_m
        alon, alat = proj.lonlat(np.array([ax]), np.array([ay]))
        # Base vertices are the mesh's own (rounded) vertices, so the base lies exactly on
        # the grids' shared boundary.
        base0 = (mesh_lon[i + 1, j], mesh_lat[i + 1, j])
        base1 = (mesh_lon[i + 1, j + 1], mesh_lat[i + 1, j + 1])
        apex = (round(float(alon[0]), ADMIN_DECIMALS), round(float(alat[0]), ADMIN_DECIMALS))
        return shapely.Polygon([base0, base1, apex, base0])

    i, j = pick(2, 1)
    west, east = int(labels.grid[i, j]), int(labels.grid[i + 1, j])
    gap = triangle(i, j, -12.0)
    grid_geom[west] = shapely.difference(grid_geom[west], gap)
    planted["gaps"].append(
        {
            "community": meta["communities"][int(labels.community[i, j])]["code"],
            "between": [code_of[west], code_of[east]],
            "approx_area_m2": 600.0,
        }
    )

    i, j = pick(1, 2)
    west, east = int(labels.grid[i, j]), int(labels.grid[i + 1, j])
    bump = triangle(i, j, 12.0)
    grid_geom[west] = shapely.union(grid_geom[west], bump)
    planted["overlaps"].append({"grids": [code_of[west], code_of[east]], "approx_area_m2": 600.0})

    i, j = pick(0, 3)
    west, east = int(labels.grid[i, j]), int(labels.grid[i + 1, j])
    sliver = triangle(i, j, -0.015)
    grid_geom[west] = shapely.difference(grid_geom[west], sliver)
    planted["slivers"].append(
        {
            "community": meta["communities"][int(labels.community[i, j])]["code"],
            "between": [code_of[west], code_of[east]],
            "approx_area_m2": 0.75,
        }
    )
    planted["_split_edge"] = pick(0, 5)


def _buildings(
    spec: CitySpec,
    rng: np.random.Generator,
    labels: _Labels,
    mx: np.ndarray,
    my: np.ndarray,
    proj: _Projector,
    planted: dict[str, Any],
) -> gpd.GeoDataFrame:
    nx, ny = labels.grid.shape
    n_cells = nx * ny
    per_cell = max(1, math.ceil(spec.buildings / n_cells))
    slots = math.ceil(math.sqrt(per_cell))
    # Choose which slots of each cell hold a building, then trim to the exact total.
    slot_ids = np.argsort(rng.random((n_cells, slots * slots)), axis=1)[:, :per_cell]
    cell_ids = np.repeat(np.arange(n_cells), per_cell)
    slot_ids = slot_ids.ravel()
    total = len(cell_ids)
    extra = spec.buildings - (1 if spec.plant_problems else 0) * 2
    keep = np.sort(rng.choice(total, size=min(total, extra), replace=False))
    cell_ids, slot_ids = cell_ids[keep], slot_ids[keep]
    i, j = cell_ids // ny, cell_ids % ny
    su, sv = slot_ids // slots, slot_ids % slots
    inset = 0.2
    span = (1 - 2 * inset) / slots
    u = inset + (su + 0.5) * span + rng.uniform(-0.08, 0.08, len(i)) * span
    v = inset + (sv + 0.5) * span + rng.uniform(-0.08, 0.08, len(i)) * span
    cx, cy = _metric_point(mx, my, i, j, u, v)
    slot_m = span * CELL_M
    half_w = slot_m * rng.uniform(0.28, 0.4, len(i))
    half_h = slot_m * rng.uniform(0.18, 0.3, len(i))
    edge_angle = np.arctan2(my[i + 1, j] - my[i, j], mx[i + 1, j] - mx[i, j])
    angle = edge_angle + rng.normal(0, 0.05, len(i))
    if spec.plant_problems:
        si, sj = planted.pop("_split_edge")
        # Straddling the shared edge of cells (si, sj) and (si + 1, sj): about 50/50.
        ex0, ey0 = mx[si + 1, sj], my[si + 1, sj]
        ex1, ey1 = mx[si + 1, sj + 1], my[si + 1, sj + 1]
        edge_dir = math.atan2(ey1 - ey0, ex1 - ex0)
        cx = np.append(cx, (ex0 + ex1) / 2)
        cy = np.append(cy, (ey0 + ey1) / 2)
        half_w = np.append(half_w, 14.0)
        half_h = np.append(half_h, 8.0)
        angle = np.append(angle, edge_dir + math.pi / 2)
        # West of the city's outer boundary: in no grid.
        cx = np.append(cx, mx[0, ny // 2] - 80.0)
        cy = np.append(cy, my[0, ny // 2])
        half_w = np.append(half_w, 12.0)
        half_h = np.append(half_h, 8.0)
        angle = np.append(angle, 0.0)
    rx, ry = _rectangles(cx, cy, half_w, half_h, angle)
    lon, lat = proj.lonlat(rx.ravel(), ry.ravel())
    coords = np.stack([lon.reshape(rx.shape), lat.reshape(rx.shape)], axis=-1)
    geoms = _round(shapely.polygons(coords), POINT_DECIMALS)
    n = len(geoms)
    floors = rng.choice([6, 7, 11, 18, 24, 33], size=n, p=[0.3, 0.2, 0.2, 0.15, 0.1, 0.05])
    households = floors * rng.integers(2, 5, n)
    residents = np.maximum(1, np.round(households * rng.normal(2.6, 0.35, n))).astype(int)
    codes = [f"BLD-{k + 1:07d}" for k in range(n)]
    names = [f"{(k % 40) + 1}号楼" for k in range(n)]
    if spec.plant_problems:
        planted["split_buildings"].append(codes[-2])
        planted["unassigned_buildings"].append(codes[-1])
    return gpd.GeoDataFrame(
        {
            "code": codes,
            "name": names,
            "floors": floors,
            "households": households,
            "residents": residents,
        },
        geometry=geoms,
        crs=4326,
    )


def _facilities(
    rng: np.random.Generator,
    labels: _Labels,
    meta: dict[str, Any],
    mx: np.ndarray,
    my: np.ndarray,
    proj: _Projector,
) -> gpd.GeoDataFrame:
    """Service stations per community, a waste point per grid, cameras, border checkpoints."""
    nx, ny = labels.grid.shape
    rows: list[tuple[str, str, int, int, float, float]] = []
    flat_comm = labels.community.ravel()
    flat_grid = labels.grid.ravel()
    order = rng.permutation(nx * ny)
    first_in_comm = pd.Series(order).groupby(flat_comm[order]).first()
    # The straddling community's station stands in its exclave, inside district B: the
    # community's west end is then beyond a 15-minute walk, on district A's side, while B's
    # stations across the border serve most of its body (the 15-minute life circle).
    straddler = [c["code"] for c in meta["communities"]].index(meta["straddling_community"])
    jx, jy = meta["junction"]
    first_in_comm[straddler] = (jx + 6) * ny + (jy + 4)
    for comm, cell in first_in_comm.items():
        rows.append(
            (
                "service_station",
                f"{meta['communities'][int(comm)]['code']}综合服务站",
                int(cell) // ny,
                int(cell) % ny,
                0.09,
                0.5,
            )
        )
    first_in_grid = pd.Series(order).groupby(flat_grid[order]).first()
    for _grid, cell in first_in_grid.items():
        rows.append(("waste_point", "垃圾分类点", int(cell) // ny, int(cell) % ny, 0.5, 0.09))
    second_in_comm = pd.Series(order).groupby(flat_comm[order]).nth(1)
    for cell in second_in_comm:
        rows.append(("camera", "监控探头", int(cell) // ny, int(cell) % ny, 0.5, 0.91))
    border = np.argwhere(labels.district[:-1, :] != labels.district[1:, :])
    for i, j in border[:: max(1, len(border) // 12)]:
        rows.append(("checkpoint", "治安卡口", int(i), int(j), 0.91, 0.5))
    kinds, names, ci, cj, u, v = (np.array(col) for col in zip(*rows, strict=True))
    px, py = _metric_point(mx, my, ci.astype(int), cj.astype(int), u.astype(float), v.astype(float))
    lon, lat = proj.lonlat(px, py)
    lon, lat = np.round(lon, POINT_DECIMALS), np.round(lat, POINT_DECIMALS)
    codes = [f"FAC-{k + 1:06d}" for k in range(len(kinds))]
    return gpd.GeoDataFrame(
        {"code": codes, "kind": kinds, "name": names}, geometry=shapely.points(lon, lat), crs=4326
    )


def _roads(lon: np.ndarray, lat: np.ndarray) -> gpd.GeoDataFrame:
    """Streets along every second mesh line, one segment per cell edge: a connected network."""
    n_x, n_y = lon.shape
    segments: list[np.ndarray] = []
    names: list[str] = []
    for i in range(0, n_x, 2):  # north-south streets
        pts = np.column_stack([lon[i, :], lat[i, :]])
        segments.extend(np.stack([pts[:-1], pts[1:]], axis=1))
        names.extend([f"经{i // 2 + 1}路"] * (n_y - 1))
    for j in range(0, n_y, 2):  # east-west streets
        pts = np.column_stack([lon[:, j], lat[:, j]])
        segments.extend(np.stack([pts[:-1], pts[1:]], axis=1))
        names.extend([f"纬{j // 2 + 1}路"] * (n_x - 1))
    return gpd.GeoDataFrame(
        {"name": names}, geometry=shapely.linestrings(np.array(segments)), crs=4326
    )


# ----------------------------------------------------------------------------- reports
REPORT_YEAR = 2025
REPORT_CATEGORIES = (
    "sanitation",
    "public_security",
    "neighbour_dispute",
    "parking",
    "building_leak",
    "road_damage",
    "waste_sorting",
    "elderly_care",
)
_CATEGORY_TEXT = {
    "sanitation": "环境卫生问题",
    "public_security": "治安隐患",
    "neighbour_dispute": "邻里纠纷（犬只/噪音）",
    "parking": "乱停车",
    "building_leak": "楼栋漏水",
    "road_damage": "道路/井盖破损",
    "waste_sorting": "垃圾分类点满溢",
    "elderly_care": "独居老人求助",
}


@dataclass(frozen=True)
class _ClusterKind:
    """Where reports pile up: a share of them, a spread, categories and hours of day."""

    kind: str
    sigma_m: float
    categories: tuple[float, ...]  # weights in REPORT_CATEGORIES order
    hours: tuple[float, ...]  # 24 weights, local time


def _hours(*peaks: tuple[int, int, float]) -> tuple[float, ...]:
    weights = np.full(24, 0.2)
    weights[7:23] += 0.6  # awake hours
    for start, end, extra in peaks:
        weights[start:end] += extra
    return tuple(float(w) for w in weights)


_KINDS = {
    "market": _ClusterKind(
        "market",
        350.0,
        (0.35, 0.1, 0.1, 0.15, 0.0, 0.05, 0.25, 0.0),
        _hours((6, 10, 3.0), (16, 19, 2.0)),
    ),
    "old_compound": _ClusterKind(
        "old_compound",
        400.0,
        (0.1, 0.05, 0.25, 0.05, 0.3, 0.05, 0.05, 0.15),
        _hours((8, 11, 2.0), (19, 22, 2.5)),
    ),
    "transport_hub": _ClusterKind(
        "transport_hub",
        350.0,
        (0.1, 0.3, 0.05, 0.35, 0.0, 0.2, 0.0, 0.0),
        _hours((7, 9, 3.5), (17, 20, 3.5)),
    ),
}
_BACKGROUND = _ClusterKind("background", 0.0, (0.2, 0.1, 0.15, 0.15, 0.1, 0.1, 0.1, 0.1), _hours())
# Planted centres as fractions of the city's extent (west→east, south→north).
_CLUSTERS = (
    ("market", "东门菜市场", 0.25, 0.72),
    ("old_compound", "机械厂老宿舍", 0.22, 0.22),
    ("transport_hub", "东客运站", 0.75, 0.45),
)
_CLUSTER_SHARE = 0.6


def generate_reports(
    buildings: gpd.GeoDataFrame, *, n: int, seed: int = SEED, year: int = REPORT_YEAR
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """A year of report history over a city's buildings, clustered around planted centres.

    Half of the reports fall around a market, an old compound and a transport hub
    (Gaussian, ``sigma_m`` metres), each with its own category mix and hours of day; the rest
    are spread over random buildings. Returns the rows (CSV columns) and the cluster centres.
    """
    rng = np.random.default_rng(seed + 5)  # own stream: the other layers stay as they were
    to_metric = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
    to_lonlat = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)
    centroids = shapely.centroid(buildings.geometry.values)
    bx, by = to_metric.transform(shapely.get_x(centroids), shapely.get_y(centroids))
    bx, by = np.asarray(bx), np.asarray(by)
    x0, x1, y0, y1 = bx.min(), bx.max(), by.min(), by.max()

    n_clustered = int(round(n * _CLUSTER_SHARE))
    per_cluster = np.full(len(_CLUSTERS), n_clustered // len(_CLUSTERS))
    per_cluster[: n_clustered % len(_CLUSTERS)] += 1
    xs, ys, kinds, clusters = [], [], [], []
    for (kind_name, name, fx, fy), count in zip(_CLUSTERS, per_cluster, strict=True):
        kind = _KINDS[kind_name]
        cx, cy = x0 + fx * (x1 - x0), y0 + fy * (y1 - y0)
        xs.append(rng.normal(cx, kind.sigma_m, count))
        ys.append(rng.normal(cy, kind.sigma_m, count))
        kinds += [kind] * int(count)
        lon, lat = to_lonlat.transform(cx, cy)
        clusters.append(
            {
                "kind": kind_name,
                "name": name,
                "lon": round(float(lon), POINT_DECIMALS),
                "lat": round(float(lat), POINT_DECIMALS),
                "sigma_m": kind.sigma_m,
                "reports": int(count),
            }
        )
    spread = n - n_clustered
    pick = rng.integers(0, len(bx), spread)
    xs.append(bx[pick] + rng.normal(0, 15.0, spread))
    ys.append(by[pick] + rng.normal(0, 15.0, spread))
    kinds += [_BACKGROUND] * spread
    x, y = np.concatenate(xs), np.concatenate(ys)
    lon, lat = to_lonlat.transform(x, y)

    categories = np.empty(n, dtype=object)
    hours = np.empty(n, dtype=np.int64)
    kind_of = np.array([k.kind for k in kinds])
    for kind in (*_KINDS.values(), _BACKGROUND):
        mask = kind_of == kind.kind
        cat_p = np.array(kind.categories) / sum(kind.categories)
        hour_p = np.array(kind.hours) / sum(kind.hours)
        categories[mask] = rng.choice(REPORT_CATEGORIES, int(mask.sum()), p=cat_p)
        hours[mask] = rng.choice(24, int(mask.sum()), p=hour_p)
    start = np.datetime64(f"{year}-01-01T00:00")
    days = rng.integers(0, 365, n)
    minutes = rng.integers(0, 60, n)
    local = start + days.astype("timedelta64[D]") + hours.astype("timedelta64[h]")
    local = local + minutes.astype("timedelta64[m]")
    # Most reports are closed within hours to days; the last weeks' may still be open.
    to_close = np.exp(rng.normal(np.log(20.0), 1.2, n)).astype(np.int64)  # hours
    closed_local = local + to_close.astype("timedelta64[h]")
    year_end = np.datetime64(f"{year + 1}-01-01T00:00")
    open_ = (closed_local >= year_end) | (rng.random(n) < 0.01)
    order = np.argsort(local, kind="stable")
    fmt = "%Y-%m-%dT%H:%M:00+08:00"
    reported_at = pd.to_datetime(local[order]).strftime(fmt)
    closed_at = pd.Series(pd.to_datetime(closed_local[order]).strftime(fmt))
    closed_at[open_[order]] = ""
    waiting = [ReportStatus.REPORTED, ReportStatus.DISPATCHED, ReportStatus.IN_PROGRESS]
    status = np.where(open_[order], rng.choice([str(s) for s in waiting], n), ReportStatus.CLOSED)
    cats = categories[order]
    rows = pd.DataFrame(
        {
            "external_id": [f"DEMO-{k + 1:07d}" for k in range(n)],
            "category": cats,
            "status": status,
            "reported_at": reported_at,
            "closed_at": closed_at.to_numpy(),
            "lon": np.round(np.asarray(lon)[order], POINT_DECIMALS),
            "lat": np.round(np.asarray(lat)[order], POINT_DECIMALS),
            "description": [_CATEGORY_TEXT[c] for c in cats],
        }
    )
    return rows, clusters


# Care flags among a building's households (independent draws), and the share of households
# registered without any (the registry of the demo holds the care households and a few others).
CARE_RATES = {
    "elderly_alone": 0.012,
    "disabled": 0.006,
    "left_behind_child": 0.005,
    "low_income": 0.008,
    "other": 0.002,
}
PLAIN_REGISTERED = 0.005
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
_GIVEN = "秀英桂兰玉芳建华国强志明淑珍春梅德福永红海燕文杰子涵雨桐浩然思远"
VISIT_NOTES = ("身体状况良好", "已送米油", "提醒按时服药", "家中无人，已电话联系", "孩子学习正常")


def generate_households(
    buildings: gpd.GeoDataFrame, *, seed: int = SEED, skip: set[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A household registry for the demo (the care households and a few others, per
    building) and their visit history as days before the load (``days_ago``, local time).

    About one visited household in five is past its deadline; one in twelve was never met.
    """
    rng = np.random.default_rng(seed + 7)  # own stream: the other layers stay as they were
    rows: list[dict[str, Any]] = []
    visits: list[dict[str, Any]] = []
    flags = list(CARE_RATES)
    rates = np.array(list(CARE_RATES.values()))
    for code, floors, count in zip(
        buildings["code"], buildings["floors"], buildings["households"], strict=True
    ):
        if skip and code in skip:
            continue
        drawn = rng.random((int(count), len(flags))) < rates
        plain = rng.random(int(count)) < PLAIN_REGISTERED
        for k in np.flatnonzero(drawn.any(axis=1) | plain):
            care = [flags[f] for f in np.flatnonzero(drawn[k])]
            per_floor = max(1, int(count) // int(floors))
            floor, door = int(k) // per_floor + 1, int(k) % per_floor + 1
            household = f"H-{code.removeprefix('BLD-')}-{floor:02d}{door:02d}"
            name = _SURNAMES[rng.integers(len(_SURNAMES))] + "".join(
                _GIVEN[i] for i in rng.integers(len(_GIVEN), size=int(rng.integers(1, 3)))
            )
            members = 1 if "elderly_alone" in care else int(rng.integers(1, 6))
            rows.append(
                {
                    "code": household,
                    "building": code,
                    "unit": f"{floor}{door:02d}",
                    "head_name": name,
                    "phone": f"1{rng.integers(3, 9)}{rng.integers(0, 10**9):09d}",
                    "members": members,
                    "care": ";".join(care),
                    "visit_every_days": "",
                }
            )
            if not care:
                continue
            every = min(CARE_VISIT_DAYS[flag] for flag in care)
            if rng.random() < 1 / 12:
                continue  # never met yet
            last = int(rng.integers(0, int(every * 1.25) + 1))
            for days_ago, outcome in (
                (last + every + int(rng.integers(-2, 3)), "met"),
                (last, "met"),
            ):
                visits.append(_visit(rng, household, max(days_ago, 0), outcome))
            if last > 0 and rng.random() < 0.15:
                visits.append(_visit(rng, household, int(rng.integers(0, last)), "not_home"))
    return pd.DataFrame(rows), pd.DataFrame(visits)


def _visit(rng: np.random.Generator, household: str, days_ago: int, outcome: str) -> dict[str, Any]:
    note = VISIT_NOTES[3] if outcome == "not_home" else VISIT_NOTES[rng.integers(3)]
    return {
        "household": household,
        "days_ago": days_ago,
        "time": f"{rng.integers(9, 18):02d}:{rng.integers(0, 60):02d}",
        "worker": "demo",
        "outcome": outcome,
        "note": note,
    }


def write_city(city: dict[str, Any], out: Path, *, file_format: str = "geojson") -> list[Path]:
    """Write each layer as ``<layer>.geojson`` (or one ``city.gpkg``) plus the manifests."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for layer in LAYER_ORDER:
        frame: gpd.GeoDataFrame = city[layer]
        if file_format == "gpkg":
            path = out / f"{layer}.gpkg"
            pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG")
        else:
            path = out / f"{layer}.geojson"
            decimals = (
                ADMIN_DECIMALS if layer in LAYER_ORDER[:4] or layer == "roads" else (POINT_DECIMALS)
            )
            pyogrio.write_dataframe(
                frame,
                path,
                driver="GeoJSON",
                layer_options={
                    "COORDINATE_PRECISION": decimals,
                    "RFC7946": "NO",
                    "WRITE_BBOX": "NO",
                },
            )
        written.append(path)
    city["reports"].to_csv(out / REPORTS_FILE, index=False)
    written.append(out / REPORTS_FILE)
    for name, key in ((HOUSEHOLDS_FILE, "households"), (VISITS_FILE, "visits")):
        city[key].to_csv(out / name, index=False)
        written.append(out / name)
    (out / "manifest.json").write_text(
        json.dumps(city["manifest"], ensure_ascii=False, indent=2) + "\n"
    )
    (out / "planted.json").write_text(
        json.dumps(city["planted"], ensure_ascii=False, indent=2) + "\n"
    )
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate a gridpatrol city.")
    parser.add_argument("--out", type=Path, default=DEMO_DIR, help="output directory")
    parser.add_argument("--grids", type=int, default=DEMO.grids, help="base grids (tiles)")
    parser.add_argument("--buildings", type=int, default=DEMO.buildings)
    parser.add_argument("--grids-per-community", type=int, default=DEMO.grids_per_community)
    parser.add_argument(
        "--communities-per-subdistrict", type=int, default=DEMO.communities_per_subdistrict
    )
    parser.add_argument("--format", choices=("geojson", "gpkg"), default="geojson")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--reports", type=int, default=DEMO.reports, help="report history rows")
    parser.add_argument("--no-planted-problems", action="store_true")
    args = parser.parse_args(argv)
    spec = CitySpec(
        grids=args.grids,
        buildings=args.buildings,
        grids_per_community=args.grids_per_community,
        communities_per_subdistrict=args.communities_per_subdistrict,
        plant_problems=not args.no_planted_problems,
        seed=args.seed,
        reports=args.reports,
    )
    city = generate_city(spec)
    paths = write_city(city, args.out, file_format=args.format)
    print(json.dumps(city["manifest"]["counts"]))
    for path in paths:
        print(path)


if __name__ == "__main__":
    main()
