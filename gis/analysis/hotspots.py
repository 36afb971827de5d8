"""Hotspots: where reports cluster, by Getis-Ord Gi* over grids or hexagons, FDR-corrected.

The analysis follows ArcGIS's Optimized Hot Spot Analysis:

- units are the grids (neighbours by Queen contiguity: sharing an edge or a vertex) or regular
  hexagons of ``size_m`` (edge length = circumradius, metres) laid out in the UTM zone of the
  city's centre, kept where they touch a grid. Hexagon neighbours are the centroids within a
  distance band; the default band, ``1.05 * sqrt(3) * size_m``, takes exactly the six touching
  hexagons (adjacent centroids lie ``sqrt(3) * size_m`` apart), the hexagonal analogue of Queen
  contiguity, so both units compare a place with its immediate surroundings;
- counts per unit for the chosen categories and time window are computed in SQL; units with no
  reports stay in (they are what makes a cluster stand out);
- Gi* with binary weights and each unit in its own neighbourhood (esda ``G_Local(star=True,
  transform="B")``); z is the analytical Gi* z-score, p the two-sided permutation p-value
  (``2 * p_sim`` of esda's folded pseudo p-value, fixed seed);
- Benjamini-Hochberg FDR over all units; the bin is +-3/+-2/+-1 where the FDR-adjusted p is
  below 0.01/0.05/0.10 (99/95/90 % confidence), signed by z, and 0 otherwise.

A permutation p-value cannot fall below ``1 / (permutations + 1)``, and BH compares the k-th
smallest p with ``alpha * k / n``; the default 9,999 permutations keep 99 % reachable for cities
of thousands of units.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import libpysal
import numpy as np
import numpy.typing as npt
import shapely
from esda.getisord import G_Local
from pyproj import Transformer
from scipy.stats import false_discovery_control
from sqlalchemy import Connection, Engine, text

from gis.core.crs import Bounds, city_window, utm_epsg
from gis.core.db import make_engine
from gis.core.errors import InvalidInput, NotEnoughData
from gis.core.timewindow import check_window
from gis.core.versions import VersionedCache
from gis.core.vocabulary import EXCLUDED_FROM_ANALYSES, sql_list
from gis.reports.categories import Category, validate_categories

UNITS: tuple[str, ...] = ("grid", "hex")
# Hexagons by default: a city has far fewer grids than 200 m cells, and with a few dozen
# units a permutation test rarely reaches 99 % after FDR (the demo's 68 grids do not).
DEFAULT_UNIT = "hex"
MIN_UNITS = 30
DEFAULT_HEX_SIZE_M = 200.0
DEFAULT_PERMUTATIONS = 9999
DEFAULT_SEED = 20261123
MAX_HEX_UNITS = 200_000
# Hexagons smaller than this (edge, metres) are finer than a report's position.
MIN_HEX_SIZE_M = 10.0
# Hexagons larger than this (edge, metres) would hold whole cities in a few cells.
MAX_HEX_SIZE_M = 50_000.0
MIN_PERMUTATIONS = 99
MAX_PERMUTATIONS = 99_999
# The permutation test costs about permutations × units; 2e8 is about 10 s on one core
# (bench: 15,672 hexagons × 9,999 permutations in 6-10 s), a 10,000-grid city's default.
MAX_PERMUTATION_WORK = 200_000_000
# (bin, alpha): 99, 95 and 90 % confidence.
CONFIDENCE_BINS: tuple[tuple[int, float], ...] = ((3, 0.01), (2, 0.05), (1, 0.10))
BIN_LABELS: dict[int, str] = {
    3: "hot spot, 99 % confidence",
    2: "hot spot, 95 % confidence",
    1: "hot spot, 90 % confidence",
    0: "not significant",
    -1: "cold spot, 90 % confidence",
    -2: "cold spot, 95 % confidence",
    -3: "cold spot, 99 % confidence",
}
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class HotspotUnit:
    """One analysed unit: its id, GeoJSON geometry (EPSG:4326), count and Gi* result."""

    id: str
    geometry: dict[str, Any]
    count: int
    z: float
    p: float
    p_fdr: float
    bin: int


@dataclass(frozen=True)
class HotspotResult:
    """The hotspot analysis of one category set and time window."""

    unit: str
    size_m: float | None
    band_m: float | None
    metric_crs: str
    categories: tuple[str, ...]
    since: datetime | None
    until: datetime | None
    permutations: int
    seed: int
    reports: int
    bounds: tuple[float, float, float, float]
    units: list[HotspotUnit] = field(default_factory=list)

    def bin_counts(self) -> dict[int, int]:
        """Units per bin, every bin listed."""
        counts = dict.fromkeys(sorted(BIN_LABELS, reverse=True), 0)
        for u in self.units:
            counts[u.bin] += 1
        return counts


@dataclass(frozen=True)
class GiStar:
    """Gi* of a set of units: z-scores, two-sided p, FDR-adjusted p and bins."""

    z: FloatArray
    p: FloatArray
    p_fdr: FloatArray
    bins: IntArray


# ----------------------------------------------------------------------------- statistics
def classify(z: FloatArray, p: FloatArray) -> IntArray:
    """Bin per unit: +-3/+-2/+-1 where ``p`` is below 0.01/0.05/0.10, signed by ``z``; else 0."""
    level = np.zeros(len(p), dtype=np.int64)
    for value, alpha in reversed(CONFIDENCE_BINS):
        level[p <= alpha] = value
    return np.sign(z).astype(np.int64) * level


def adjust_fdr(p: FloatArray) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (FDR), same order as ``p``."""
    if len(p) == 0:
        return p.copy()
    return np.asarray(false_discovery_control(p, method="bh"), dtype=np.float64)


def score_units(
    counts: npt.ArrayLike, weights: libpysal.weights.W, *, permutations: int, seed: int
) -> GiStar:
    """Gi* (binary weights, self included) with permutation p-values and FDR-corrected bins."""
    y = np.asarray(counts, dtype=np.float64)
    n = len(y)
    if n == 0 or np.all(y == y[0]):
        # Nothing varies: no unit can stand out (and the z-score would be 0/0).
        zeros, ones = np.zeros(n), np.ones(n)
        return GiStar(zeros, ones, ones.copy(), np.zeros(n, dtype=np.int64))
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = G_Local(
            y,
            weights,
            transform="B",
            star=True,
            permutations=permutations,
            seed=seed,
            keep_simulations=False,
            n_jobs=1,
        )
    z = np.nan_to_num(np.asarray(g.Zs, dtype=np.float64))
    p = np.minimum(1.0, 2.0 * np.asarray(g.p_sim, dtype=np.float64))
    p_fdr = adjust_fdr(p)
    return GiStar(z=z, p=p, p_fdr=p_fdr, bins=classify(z, p_fdr))


def queen_weights(geometries: npt.NDArray[Any]) -> libpysal.weights.W:
    """Queen contiguity (shared edge or vertex) between polygons, binary."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # islands (an exclave grid) are expected
        return libpysal.weights.Queen.from_iterable(list(geometries), ids=None)


def band_weights(xy_m: FloatArray, *, band_m: float) -> libpysal.weights.W:
    """Binary weights between points (metres) no farther apart than ``band_m``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return libpysal.weights.DistanceBand(
            xy_m, threshold=band_m, binary=True, silence_warnings=True
        )


def default_band_m(size_m: float) -> float:
    """The distance band taking the six hexagons touching one of edge ``size_m`` (metres)."""
    return 1.05 * math.sqrt(3.0) * size_m


# ----------------------------------------------------------------------------- parameters
def _report_filter(
    categories: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    alias: str = "r",
    *,
    window: Bounds | None = None,
) -> tuple[str, dict[str, Any]]:
    """The SQL condition on reports of an analysis: never an invalid (spam) report; only
    those inside ``window`` (lon/lat) when given, so none is projected outside its domain."""
    clauses: list[str] = [f"{alias}.status NOT IN ({sql_list(EXCLUDED_FROM_ANALYSES)})"]
    params: dict[str, Any] = {}
    if window is not None:
        clauses.append(f"{alias}.geom && ST_MakeEnvelope(:wx0, :wy0, :wx1, :wy1, 4326)")
        params |= dict(zip(("wx0", "wy0", "wx1", "wy1"), window, strict=True))
    if categories:
        clauses.append(f"{alias}.category = ANY(:categories)")
        params["categories"] = list(categories)
    if since is not None:
        clauses.append(f"{alias}.reported_at >= :since")
        params["since"] = since
    if until is not None:
        clauses.append(f"{alias}.reported_at < :until")
        params["until"] = until
    return (" AND ".join(clauses) or "true"), params


def metric_crs(conn: Connection) -> tuple[int, tuple[float, float, float, float]]:
    """EPSG code of the UTM zone of the grids' centre, and the grids' lon/lat bounds."""
    row = conn.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(geom)::geometry AS e FROM grids) s"
        )
    ).one()
    if row[0] is None:
        raise NotEnoughData("no grids loaded: import grids (or run `gridpatrol demo`) first")
    bounds = (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
    return utm_epsg((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2), bounds


# ----------------------------------------------------------------------------- units
_GRID_UNITS = """
SELECT g.code, ST_AsGeoJSON(g.geom, 6), ST_AsBinary(g.geom), coalesce(c.n, 0)
FROM grids g
LEFT JOIN (
    SELECT r.grid_code, count(*) AS n FROM reports r WHERE {where} GROUP BY r.grid_code
) c ON c.grid_code = g.code
ORDER BY g.code
"""

# Hexagons are laid out in metres (ST_HexagonGrid in the UTM zone) and kept where they touch
# a grid; each hexagon, transformed back to EPSG:4326, probes the reports' GiST index.
_HEX_UNITS = """
WITH box AS (
    SELECT ST_Transform(ST_SetSRID(ST_Extent(geom)::geometry, 4326), :srid) AS geom FROM grids
),
hex AS MATERIALIZED (
    SELECT h.i, h.j, ST_Transform(h.geom, 4326) AS geom,
           ST_X(ST_Centroid(h.geom)) AS x_m, ST_Y(ST_Centroid(h.geom)) AS y_m
    FROM box, ST_HexagonGrid(:size_m, box.geom) AS h
)
SELECT 'H' || h.i || '_' || h.j, ST_AsGeoJSON(h.geom, 6), h.x_m, h.y_m,
       (SELECT count(*) FROM reports r
        WHERE r.geom && h.geom AND ST_Intersects(h.geom, r.geom) AND {where}) AS n
FROM hex h
WHERE EXISTS (SELECT 1 FROM grids g WHERE g.geom && h.geom AND ST_Intersects(g.geom, h.geom))
ORDER BY h.i, h.j
"""


def _grid_units(
    conn: Connection, where: str, params: dict[str, Any]
) -> tuple[list[str], list[str], IntArray, libpysal.weights.W | None]:
    rows = conn.execute(text(_GRID_UNITS.format(where=where)), params).all()
    ids = [r[0] for r in rows]
    geojson = [r[1] for r in rows]
    counts = np.array([r[3] for r in rows], dtype=np.int64)
    if len(rows) < MIN_UNITS:
        return ids, geojson, counts, None
    geoms = shapely.from_wkb([bytes(r[2]) for r in rows])
    return ids, geojson, counts, queen_weights(geoms)


def _hex_units(
    conn: Connection,
    where: str,
    params: dict[str, Any],
    *,
    srid: int,
    size_m: float,
    band_m: float,
    bounds: tuple[float, float, float, float],
) -> tuple[list[str], list[str], IntArray, libpysal.weights.W | None]:
    to_m = Transformer.from_crs(4326, srid, always_xy=True)
    xs, ys = to_m.transform([bounds[0], bounds[2]], [bounds[1], bounds[3]])
    area_m2 = abs(xs[1] - xs[0]) * abs(ys[1] - ys[0])
    if area_m2 / (1.5 * math.sqrt(3.0) * size_m**2) > MAX_HEX_UNITS:
        raise InvalidInput(
            f"size_m: {size_m:g} m hexagons would make more than {MAX_HEX_UNITS:,} cells over "
            "this city; choose a larger size"
        )
    rows = conn.execute(
        text(_HEX_UNITS.format(where=where)), params | {"srid": srid, "size_m": size_m}
    ).all()
    ids = [r[0] for r in rows]
    geojson = [r[1] for r in rows]
    counts = np.array([r[4] for r in rows], dtype=np.int64)
    if len(rows) < MIN_UNITS:
        return ids, geojson, counts, None
    xy = np.array([(r[2], r[3]) for r in rows], dtype=np.float64)
    return ids, geojson, counts, band_weights(xy, band_m=band_m)


def find_hotspots(
    conn: Connection,
    *,
    categories: dict[str, Category],
    unit: str = DEFAULT_UNIT,
    size_m: float | None = None,
    band_m: float | None = None,
    category_codes: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = DEFAULT_SEED,
) -> HotspotResult:
    """Gi* hot and cold spots of reports over grids or hexagons of ``size_m`` metres.

    ``categories`` are the configured ones; ``category_codes`` (some of them) selects reports,
    empty or None meaning all. The window is ``since <= reported_at < until`` (time-zone aware).
    Raises ``InvalidInput`` naming a bad parameter and ``NotEnoughData`` when there are fewer
    than 30 units or no reports in the window.
    """
    if unit not in UNITS:
        raise InvalidInput(f"unit: unknown unit {unit!r}; expected one of: {', '.join(UNITS)}")
    if size_m is not None and not (
        math.isfinite(size_m) and MIN_HEX_SIZE_M <= size_m <= MAX_HEX_SIZE_M
    ):
        raise InvalidInput(
            f"size_m: must be a number of metres from {MIN_HEX_SIZE_M:g} up to "
            f"{MAX_HEX_SIZE_M:,.0f}, got {size_m!r}"
        )
    if band_m is not None and not (math.isfinite(band_m) and band_m > 0):
        raise InvalidInput(f"band_m: must be a positive number of metres, got {band_m!r}")
    if unit == "grid" and (size_m is not None or band_m is not None):
        raise InvalidInput("size_m: only hexagon units (unit=hex) take a size or a band")
    if not MIN_PERMUTATIONS <= permutations <= MAX_PERMUTATIONS:
        raise InvalidInput(
            f"permutations: must lie in {MIN_PERMUTATIONS}..{MAX_PERMUTATIONS}, got {permutations}"
        )
    chosen = validate_categories(category_codes or (), categories)
    check_window(since, until)
    where, params = _report_filter(chosen, since, until)
    srid, bounds = metric_crs(conn)

    if unit == "grid":
        ids, geojson, counts, weights = _grid_units(conn, where, params)
        size, band = None, None
    else:
        size = size_m or DEFAULT_HEX_SIZE_M
        band = band_m or default_band_m(size)
        ids, geojson, counts, weights = _hex_units(
            conn, where, params, srid=srid, size_m=size, band_m=band, bounds=bounds
        )
    if weights is None:
        raise NotEnoughData(
            f"only {len(ids)} {unit} unit(s) over this city; Gi* needs at least {MIN_UNITS}"
            + (" (choose a smaller size_m)" if unit == "hex" else "")
        )
    if permutations * len(ids) > MAX_PERMUTATION_WORK:
        raise InvalidInput(
            f"permutations: {permutations:,} permutations over {len(ids):,} units is more work "
            f"than allowed (permutations × units ≤ {MAX_PERMUTATION_WORK:,}); use at most "
            f"{MAX_PERMUTATION_WORK // len(ids):,} permutations"
            + (" or larger hexagons (size_m)" if unit == "hex" else "")
        )
    total = int(counts.sum())
    if total == 0:
        raise NotEnoughData(
            "no reports in the chosen window and categories: there is nothing to analyse"
        )
    scored = score_units(counts, weights, permutations=permutations, seed=seed)
    units = [
        HotspotUnit(
            id=ids[k],
            geometry=json.loads(geojson[k]),
            count=int(counts[k]),
            z=float(scored.z[k]),
            p=float(scored.p[k]),
            p_fdr=float(scored.p_fdr[k]),
            bin=int(scored.bins[k]),
        )
        for k in range(len(ids))
    ]
    return HotspotResult(
        unit=unit,
        size_m=size,
        band_m=band,
        metric_crs=f"EPSG:{srid}",
        categories=chosen,
        since=since,
        until=until,
        permutations=permutations,
        seed=seed,
        reports=total,
        bounds=bounds,
        units=units,
    )


# The tables a result is computed from: their versions (``layer_versions``, bumped by
# triggers on every write) key the cache together with the parameters.
HOTSPOT_SOURCES: tuple[str, ...] = ("reports", "grids")
MAX_CACHED_RESULTS = 64
_results: VersionedCache[HotspotResult] = VersionedCache(max_entries=MAX_CACHED_RESULTS)


# Engines of a worker process (``hotspots_in_process``), one per database.
_process_engines: dict[str, Engine] = {}


def hotspots_in_process(
    database_url: str, categories: dict[str, Category], options: dict[str, Any]
) -> HotspotResult:
    """:func:`find_hotspots` in a worker process of its own (an ``Executor``'s): the
    permutation test is Python and numpy, and in the server's process it would hold the GIL
    that every other request needs."""
    engine = _process_engines.get(database_url)
    if engine is None:
        engine = _process_engines[database_url] = make_engine(
            database_url, pool_size=1, max_overflow=1
        )
    with engine.connect() as conn:
        return find_hotspots(conn, categories=categories, **options)


def cached_hotspots(
    conn: Connection,
    *,
    categories: dict[str, Category],
    slot: Callable[[], AbstractContextManager[object]] = nullcontext,
    executor: Executor | None = None,
    **options: Any,
) -> HotspotResult:
    """:func:`find_hotspots`'s result, from a cache keyed by the options and the versions of
    the reports and grids: computed again only when one of them changed. Computing holds
    ``slot()`` (a bounded pool) and runs in ``executor`` when given (worker processes); a
    cached answer takes neither."""
    key = tuple(
        sorted(
            (name, tuple(value) if isinstance(value, list) else value)
            for name, value in options.items()
        )
    )
    found = _results.peek(conn, sources=HOTSPOT_SOURCES, key=key)
    if found is not None:
        return found

    def compute() -> HotspotResult:
        if executor is None:
            return find_hotspots(conn, categories=categories, **options)
        url = conn.engine.url.render_as_string(hide_password=False)
        return executor.submit(hotspots_in_process, url, categories, options).result()

    with slot():
        return _results.get(conn, sources=HOTSPOT_SOURCES, key=key, compute=compute)


def describe_window(result: HotspotResult) -> str:
    """Human-readable window and categories, e.g. for a map title."""
    since = result.since.date().isoformat() if result.since else "start"
    until = result.until.date().isoformat() if result.until else "now"
    cats = ", ".join(result.categories) if result.categories else "all categories"
    return f"{since} – {until} · {cats}"


def hotspots_geojson(result: HotspotResult) -> dict[str, Any]:
    """The result as a GeoJSON FeatureCollection with the analysis parameters."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": u.id,
                "geometry": u.geometry,
                "properties": {
                    "id": u.id,
                    "count": u.count,
                    "z": round(u.z, 4),
                    "p": round(u.p, 5),
                    "p_fdr": round(u.p_fdr, 5),
                    "bin": u.bin,
                    "label": BIN_LABELS[u.bin],
                },
            }
            for u in result.units
        ],
        "analysis": {
            "method": "Getis-Ord Gi*, binary weights, self included; "
            "two-sided permutation p; Benjamini-Hochberg FDR",
            "unit": result.unit,
            "size_m": result.size_m,
            "band_m": None if result.band_m is None else round(result.band_m, 2),
            "neighbours": "queen contiguity" if result.unit == "grid" else "distance band",
            "metric_crs": result.metric_crs,
            "categories": list(result.categories),
            "since": result.since.isoformat() if result.since else None,
            "until": result.until.isoformat() if result.until else None,
            "permutations": result.permutations,
            "seed": result.seed,
            "reports": result.reports,
            "units": len(result.units),
            "bins": {str(k): v for k, v in result.bin_counts().items()},
        },
    }


# ----------------------------------------------------------------------------- heat layer
def report_heat_points(
    conn: Connection,
    *,
    categories: dict[str, Category],
    category_codes: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    max_points: int = 20_000,
) -> list[tuple[float, float, float]]:
    """(lat, lon, weight) of the window's reports for a heatmap, at most ``max_points``.

    Up to ``max_points`` reports are returned one by one; more are summed into square cells in
    the UTM zone (side chosen so the city holds about ``max_points`` cells), weighted by count.
    """
    chosen = validate_categories(category_codes or (), categories)
    check_window(since, until)
    srid, bounds = metric_crs(conn)
    # Reports far from the city (a stray point, a legacy one) are left out: never drawn, and
    # never projected to the UTM zone, where they would lie outside its domain.
    where, params = _report_filter(chosen, since, until, window=city_window(bounds))
    total = conn.execute(text(f"SELECT count(*) FROM reports r WHERE {where}"), params).scalar_one()
    if total <= max_points:
        rows = conn.execute(
            text(f"SELECT ST_Y(r.geom), ST_X(r.geom) FROM reports r WHERE {where} ORDER BY r.id"),
            params,
        ).all()
        return [(round(lat, 6), round(lon, 6), 1.0) for lat, lon in rows]
    to_m = Transformer.from_crs(4326, srid, always_xy=True)
    xs, ys = to_m.transform([bounds[0], bounds[2]], [bounds[1], bounds[3]])
    cell_m = max(10.0, math.sqrt(abs(xs[1] - xs[0]) * abs(ys[1] - ys[0]) / max_points))
    rows = conn.execute(
        text(
            f"""
            SELECT floor(ST_X(p) / :cell) AS ix, floor(ST_Y(p) / :cell) AS iy, count(*)
            FROM (SELECT ST_Transform(r.geom, :srid) AS p FROM reports r WHERE {where}) s
            GROUP BY 1, 2 ORDER BY 1, 2
            """
        ),
        params | {"cell": cell_m, "srid": srid},
    ).all()
    ix = np.array([r[0] for r in rows], dtype=np.float64)
    iy = np.array([r[1] for r in rows], dtype=np.float64)
    weight = np.array([r[2] for r in rows], dtype=np.float64)
    to_lonlat = Transformer.from_crs(srid, 4326, always_xy=True)
    lon, lat = to_lonlat.transform((ix + 0.5) * cell_m, (iy + 0.5) * cell_m)
    return [
        (round(float(a), 6), round(float(o), 6), float(w))
        for a, o, w in zip(np.atleast_1d(lat), np.atleast_1d(lon), weight, strict=True)
    ]
