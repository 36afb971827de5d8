"""Benchmark: storing and matching long GPS tracks on the demo city.

Not part of the test suite; run with ``python -m bench.tracks`` (see bench/README.md). It starts
its own throwaway cluster in ``/tmp/bench-pg-tracks``, loads the demo city, stores one plan and
walks its first route out and back at 1 Hz (1.3 m/s) until the track has ``--points`` fixes,
written as GPX. GPS noise is σ = 3 m per axis, correlated from one fix to the next as a phone's
is (AR(1), φ = 0.98), or independent per fix with ``--white-noise`` (the worst case for
simplification: most fixes stay). It times what ``POST /patrols/{id}/track`` does: ``read_track``
(parse, check, simplify; no connection) then ``store_track`` (store and match) in one
transaction, and watches ``pg_stat_activity`` for a connection idle in a transaction.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import Geod
from sqlalchemy import Engine, text

from bench.patrols import CATEGORIES, _database
from cli.cluster import EmbeddedCluster
from gis.city import load_city
from gis.patrols.request import PlanRequest
from gis.patrols.service import create_patrol_plan
from gis.patrols.tracks import read_track, record_track

_GEOD = Geod(ellps="WGS84")
PLAN = {
    "name": "bench tracks",
    "start_at": "2026-11-24T08:00:00+08:00",
    "mode": "joint",
    "walk_speed_kmh": 4.5,
    "service_minutes": 5,
    "time_limit_s": 1,
    "patrollers": [
        {"name": "Wang", "start": {"lon": 104.05, "lat": 30.66}, "shift_minutes": 240},
    ],
    "stops": {
        "facilities": ["checkpoint"],
        "points": [{"lon": 104.06, "lat": 30.66, "label": "market gate"}],
    },
}


def _noise(rng: np.random.Generator, points: int, *, white: bool) -> np.ndarray:
    """Metres of GPS error per fix: σ = 3 m, independent or AR(1) with φ = 0.98."""
    if white:
        return rng.normal(0, 3, points)
    phi = 0.98
    shocks = rng.normal(0, 3 * np.sqrt(1 - phi**2), points)
    error = np.empty(points)
    error[0] = rng.normal(0, 3)
    for k in range(1, points):
        error[k] = phi * error[k - 1] + shocks[k]
    return error


def walk_route(
    coordinates: list[list[float]], *, points: int, seed: int, white: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``points`` 1 Hz fixes (lon, lat, Unix seconds) walking the line out and back, noisy."""
    line = np.asarray(coordinates, dtype=float)
    _, _, steps = _GEOD.inv(line[:-1, 0], line[:-1, 1], line[1:, 0], line[1:, 1])
    along = np.concatenate([[0.0], np.cumsum(steps)])
    total = float(along[-1])
    seconds = np.arange(points, dtype=float)
    # Out and back at 1.3 m/s: position along the line as a triangle wave of time.
    period = 2 * total / 1.3
    phase = (seconds % period) * 1.3
    position = np.where(phase <= total, phase, 2 * total - phase)
    lon = np.interp(position, along, line[:, 0])
    lat = np.interp(position, along, line[:, 1])
    rng = np.random.default_rng(seed)
    metres_per_degree = 111_320.0
    lat += _noise(rng, points, white=white) / metres_per_degree
    lon += _noise(rng, points, white=white) / (metres_per_degree * np.cos(np.radians(lat)))
    t0 = datetime(2026, 11, 24, 0, 0, tzinfo=UTC).timestamp()
    return lon, lat, t0 + seconds


def gpx_bytes(lon: np.ndarray, lat: np.ndarray, times: np.ndarray) -> bytes:
    """A GPX 1.1 document with one track segment (written directly: gpxpy is slow at this)."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx version="1.1" creator="bench" xmlns="http://www.topografix.com/GPX/1/1">'
        "<trk><trkseg>\n"
    ]
    start = datetime.fromtimestamp(float(times[0]), tz=UTC)
    for x, y, t in zip(lon.tolist(), lat.tolist(), times.tolist(), strict=True):
        moment = start + timedelta(seconds=t - float(times[0]))
        parts.append(
            f'<trkpt lat="{y:.7f}" lon="{x:.7f}"><time>{moment:%Y-%m-%dT%H:%M:%SZ}</time></trkpt>\n'
        )
    parts.append("</trkseg></trk></gpx>\n")
    return "".join(parts).encode()


def _idle_in_transaction(engine: Engine, stop: threading.Event, seen: list[float]) -> None:
    """Poll pg_stat_activity: the longest idle-in-transaction of another connection (s)."""
    with engine.connect() as conn:
        conn.execute(text("SET application_name = 'bench-watch'"))
        conn.commit()
        while not stop.wait(0.2):
            longest = conn.execute(
                text(
                    "SELECT coalesce(max(extract(epoch FROM now() - state_change)), 0) "
                    "FROM pg_stat_activity WHERE state = 'idle in transaction' "
                    "AND datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
            conn.commit()
            seen.append(float(longest))


def _postgres_cpu_s(home: Path) -> float:
    """CPU seconds (user + system) of the bench cluster's server processes so far."""
    postmaster = int((home / "pgdata" / "postmaster.pid").read_text().split()[0])
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        if pid == postmaster or int(fields[1]) == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def bench_track(
    engine: Engine, *, home: Path, points: int, seed: int, white: bool
) -> dict[str, Any]:
    """Plan once, then time reading and storing a ``points``-fix GPX walk of the first route."""
    plan = create_patrol_plan(
        engine, PlanRequest.model_validate(PLAN), categories=CATEGORIES
    ).model_dump(mode="json")
    route = next(r for r in plan["routes"] if r["stops"])
    lon, lat, times = walk_route(
        route["geometry"]["coordinates"], points=points, seed=seed, white=white
    )
    data = gpx_bytes(lon, lat, times)
    stop = threading.Event()
    idle: list[float] = []
    watcher = threading.Thread(target=_idle_in_transaction, args=(engine, stop, idle))
    watcher.start()
    postgres_before = _postgres_cpu_s(home)
    python_before = time.process_time()
    started = time.perf_counter()
    track_read = read_track(data)
    read_s = time.perf_counter() - started
    track = record_track(engine, plan["id"], track_read, route_seq=route["seq"])
    elapsed = time.perf_counter() - started
    python_cpu = time.process_time() - python_before
    postgres_cpu = _postgres_cpu_s(home) - postgres_before
    stop.set()
    watcher.join()
    return {
        "points": points,
        "noise": "white" if white else "AR(1)",
        "gpx_bytes": len(data),
        "simplified_points": len(track_read.kept),
        "read_s": round(read_s, 2),
        "store_s": round(elapsed - read_s, 2),
        "total_s": round(elapsed, 2),
        # Wall time suffers from a busy machine; CPU seconds spent do not.
        "python_cpu_s": round(python_cpu, 2),
        "postgres_cpu_s": round(postgres_cpu, 2),
        "longest_idle_in_transaction_s": round(max(idle, default=0.0), 2),
        "grids": len(track["grids"]),
        "stops_passed": len(track["stops_passed"]),
        "stops_missed": len(track["stops_missed"]),
        "length_km": round(track["length_m"] / 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, default=Path("/tmp/bench-pg-tracks"))
    parser.add_argument("--points", type=int, nargs="+", default=[45_000, 180_000])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--white-noise", action="store_true", help="independent noise per fix")
    parser.add_argument("--out", type=Path, default=None, help="append the results (JSON line)")
    args = parser.parse_args()

    url = EmbeddedCluster(args.home, durable=False).start()
    demo = _database(url, "bench_demo")
    with demo.connect() as conn:
        empty = conn.execute(text("SELECT NOT EXISTS (SELECT 1 FROM grids)")).scalar_one()
    if empty:
        load_city(demo, categories=CATEGORIES)
    results: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M"), "runs": []}
    for n in args.points:
        run = bench_track(demo, home=args.home, points=n, seed=args.seed, white=args.white_noise)
        print(json.dumps(run), flush=True)
        results["runs"].append(run)
    demo.dispose()
    if args.out:
        with args.out.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"bench": "tracks", **results}) + "\n")


if __name__ == "__main__":
    main()
