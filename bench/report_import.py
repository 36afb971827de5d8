"""Benchmark: bulk-import and locate 1,000,000 reports on a 10,000-grid city vs geopandas sjoin.

Also times the hotspot analysis on that city. Not part of the test suite; run with
``python -m bench.report_import`` (see bench/README.md). Needs the big city generated in
``/tmp/bigcity`` (``python -m data.generate --grids 10000 --buildings 1000000 --format gpkg
--out /tmp/bigcity``) and starts its own throwaway cluster in ``/tmp/bench-pg-5``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
from sqlalchemy import text

from cli.cluster import EmbeddedCluster
from data.generate import generate_reports
from gis.analysis.hotspots import find_hotspots
from gis.city import load_city
from gis.core.db import make_engine, migrate
from gis.core.settings import Settings
from gis.reports.categories import get_categories
from gis.reports.history import import_report_file
from gis.territory.importing import Progress


def _timed_steps() -> tuple[dict[str, float], Progress]:
    marks: dict[str, float] = {}

    def progress(step: str, done: int, total: int) -> None:
        marks.setdefault(step, time.perf_counter())

    return marks, progress


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--city", type=Path, default=Path("/tmp/bigcity"))
    parser.add_argument("--home", type=Path, default=Path("/tmp/bench-pg-5"))
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--naive", action="store_true", help="also time a naive UPDATE … FROM")
    args = parser.parse_args()

    categories = get_categories(Settings().categories_file)
    url = EmbeddedCluster(args.home, durable=False).start()
    engine = make_engine(url)
    migrate(engine)
    with engine.connect() as conn:
        grids = conn.execute(text("SELECT count(*) FROM grids")).scalar_one()
    if grids == 0:
        t = time.perf_counter()
        load_city(engine, args.city, categories=categories)
        print(f"loaded city in {time.perf_counter() - t:.1f} s")

    csv = Path("/tmp") / f"gridpatrol-bench-reports-{args.reports}.csv"
    if not csv.exists():
        t = time.perf_counter()
        buildings = pyogrio.read_dataframe(args.city / "buildings.gpkg", columns=[])
        rows, _ = generate_reports(buildings, n=args.reports)
        rows.to_csv(csv, index=False)
        print(f"generated {len(rows):,} reports in {time.perf_counter() - t:.1f} s")

    results: dict[str, float] = {}
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE reports"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE reports"))
    marks, progress = _timed_steps()
    start = time.perf_counter()
    with engine.begin() as conn:
        result = import_report_file(conn, csv, categories=categories, progress=progress)
    end = time.perf_counter()
    results["postgis_import_total_s"] = end - start
    results["postgis_locate_s"] = marks["upsert"] - marks["locate: sort points"]
    results["postgis_read_validate_s"] = marks.get("copy", end) - start
    results["postgis_copy_s"] = marks["locate: sort points"] - marks.get("copy", start)
    results["postgis_upsert_s"] = end - marks["upsert"]
    print(f"imported {result.inserted:,} reports")
    ordered = sorted(marks.items(), key=lambda kv: kv[1]) + [("end", end)]
    for (step, at), (_, after) in zip(ordered, ordered[1:], strict=False):
        print(f"  {step}: {after - at:.2f} s")

    # geopandas on the same data, same levels: grid, district, building (+ community/sub-
    # district from the grid's code), polygons already in memory as sjoin needs them.
    # predicate="within" is geopandas' fast path (it probes with prepared polygons).
    with engine.connect() as conn:
        polygons = {
            "grids": gpd.read_postgis("SELECT code AS key, geom FROM grids", conn),
            "districts": gpd.read_postgis("SELECT code AS key, geom FROM districts", conn),
            "buildings": gpd.read_postgis("SELECT id AS key, geom FROM buildings", conn),
        }
    t = time.perf_counter()
    frame = pd.read_csv(csv)
    points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame.lon, frame.lat), crs=4326)
    read_s = time.perf_counter() - t
    t = time.perf_counter()
    for name, layer in polygons.items():
        joined = gpd.sjoin(points[["geometry"]], layer, how="left", predicate="within")
        # One match per point, as PostGIS keeps (a groupby-min here would cost 10x the join).
        points[name] = joined.loc[~joined.index.duplicated(), "key"]
    results["sjoin_s"] = time.perf_counter() - t
    results["geopandas_read_s"] = read_s
    results["locate_ratio"] = results["postgis_locate_s"] / results["sjoin_s"]
    results["end_to_end_ratio"] = results["postgis_import_total_s"] / (read_s + results["sjoin_s"])

    if args.naive:
        with engine.begin() as conn:
            conn.execute(text("UPDATE reports SET grid_code = NULL"))
        t = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE reports r SET grid_code = g.code FROM grids g "
                    "WHERE ST_Contains(g.geom, r.geom)"
                )
            )
        results["naive_update_grids_only_s"] = time.perf_counter() - t

    with engine.connect() as conn:
        for unit in ("grid", "hex"):
            t = time.perf_counter()
            hot = find_hotspots(conn, categories=categories, unit=unit)
            results[f"hotspots_{unit}_s"] = time.perf_counter() - t
            results[f"hotspots_{unit}_units"] = len(hot.units)
    print(json.dumps({k: round(v, 2) for k, v in results.items()}, indent=2))
    engine.dispose()


if __name__ == "__main__":
    main()
