"""Load test of report intake: N concurrent clients POST /reports for D seconds.

Starts ``gridpatrol serve`` (``python -m cli serve``) on ``DATABASE_URL``, posts reports at random
points of the city (5% are retries of an earlier Idempotency-Key), then checks that every 201 is
in the database and that there were no 5xx, and measures the bare PostGIS lookup
(``gis.reports.intake.locate_point``) on the same database in the same run. Not part of the
test suite.

    DATABASE_URL=postgresql://… python -m bench.load_reports --clients 100 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import text

from gis.core.db import make_engine
from gis.core.settings import Settings
from gis.reports.categories import get_categories
from gis.reports.intake import locate_point

ROOT = Path(__file__).resolve().parents[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _start_server(database_url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    # Every simulated resident posts from 127.0.0.1: the per-client intake limit is off here.
    env = os.environ | {"DATABASE_URL": database_url, "GRIDPATROL_INTAKE_RATE_PER_MINUTE": "0"}
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _wait_healthy(base: str, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx2.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError("server did not become healthy")


async def _load(
    base: str, bbox: tuple[float, float, float, float], clients: int, duration_s: float
) -> dict[str, Any]:
    categories = list(get_categories(Settings().categories_file))
    latencies_ms: list[float] = []
    statuses: dict[int, int] = {}
    created: set[int] = set()
    keys: list[tuple[str, dict[str, Any]]] = []
    errors: list[str] = []
    stop_at = time.monotonic() + duration_s
    rng = random.Random(4)

    async def client_loop(http: httpx2.AsyncClient) -> None:
        while time.monotonic() < stop_at:
            if keys and rng.random() < 0.05:
                key, body = rng.choice(keys)  # a retry: must return the same report
            else:
                key = uuid.uuid4().hex
                body = {
                    "lat": rng.uniform(bbox[1], bbox[3]),
                    "lon": rng.uniform(bbox[0], bbox[2]),
                    "category": rng.choice(categories),
                    "description": "load test",
                    "reporter_phone": "13800000000",
                }
                keys.append((key, body))
            start = time.perf_counter()
            try:
                response = await http.post("/reports", json=body, headers={"Idempotency-Key": key})
            except httpx2.HTTPError as exc:
                errors.append(repr(exc))
                continue
            latencies_ms.append((time.perf_counter() - start) * 1000)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code == 201:
                created.add(int(response.json()["id"]))

    limits = httpx2.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx2.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        started = time.monotonic()
        await asyncio.gather(*(client_loop(http) for _ in range(clients)))
        elapsed = time.monotonic() - started
    return {
        "requests": len(latencies_ms),
        "elapsed_s": round(elapsed, 1),
        "throughput_rps": round(len(latencies_ms) / elapsed, 1),
        "p50_ms": round(_percentile(latencies_ms, 0.5), 1),
        "p99_ms": round(_percentile(latencies_ms, 0.99), 1),
        "statuses": statuses,
        "server_errors_5xx": sum(n for s, n in statuses.items() if s >= 500),
        "transport_errors": len(errors),
        "distinct_reports_created": len(created),
        "_created": created,
    }


def _bare_lookup(
    database_url: str, bbox: tuple[float, float, float, float], n: int
) -> dict[str, Any]:
    engine = make_engine(Settings(database_url=database_url).database_url or database_url)
    rng = random.Random(7)
    latencies_ms = []
    with engine.connect() as conn:
        for _ in range(n):
            lat, lon = rng.uniform(bbox[1], bbox[3]), rng.uniform(bbox[0], bbox[2])
            start = time.perf_counter()
            locate_point(conn, lat=lat, lon=lon)
            latencies_ms.append((time.perf_counter() - start) * 1000)
    engine.dispose()
    return {
        "queries": n,
        "p50_ms": round(_percentile(latencies_ms, 0.5), 2),
        "p99_ms": round(_percentile(latencies_ms, 0.99), 2),
        "mean_ms": round(statistics.fmean(latencies_ms), 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--lookups", type=int, default=2000, help="bare lookup queries")
    parser.add_argument("--label", default="city")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--out", type=Path, help="append the result as a JSON line")
    args = parser.parse_args(argv)
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        parser.error("set DATABASE_URL to the database to load (a demo or generated city)")
    url = Settings(database_url=database_url).database_url
    assert url is not None
    engine = make_engine(url)
    with engine.connect() as conn:
        minx, miny, maxx, maxy = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                "FROM (SELECT ST_Extent(geom) AS e FROM districts) s"
            )
        ).one()
        buildings = conn.execute(text("SELECT count(*) FROM buildings")).scalar_one()
    bbox = (minx, miny, maxx, maxy)
    server = _start_server(database_url, args.port, args.workers)
    base = f"http://127.0.0.1:{args.port}"
    try:
        asyncio.run(_wait_healthy(base))
        load = asyncio.run(_load(base, bbox, args.clients, args.duration))
    finally:
        server.terminate()
        server.wait(timeout=30)
    created: set[int] = load.pop("_created")
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM reports WHERE id = ANY(:ids)"), {"ids": list(created)}
        ).scalar_one()
    engine.dispose()
    result = {
        "label": args.label,
        "buildings": buildings,
        "clients": args.clients,
        "server_workers": args.workers,
        "duration_s": args.duration,
        **load,
        "every_201_in_db": stored == len(created),
        "bare_lookup": _bare_lookup(url, bbox, args.lookups),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        with args.out.open("a") as handle:
            handle.write(json.dumps(result) + "\n")
    if result["server_errors_5xx"] or not result["every_201_in_db"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
