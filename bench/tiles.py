"""Benchmark: vector tiles, the grids map and OGC API Features on a generated city.

Everything against a baseline in the same run, on the same database:

- tiles: the server (``gridpatrol serve``, one process, over HTTP with keep-alive) against the
  bare ``ST_AsMVT`` statement of the same tile run through psycopg, for the tiles a map asks
  for: the 1280 x 860 viewports at a few places of the city, zooms 12-17, each with the layers
  the grids map draws at that zoom (districts, communities, grids, open reports; buildings
  from their minzoom, 14). Warm: each tile is requested once before the timed round. Beside
  the target, for the reader: the bare statement on its cached generic plan (the server's
  own statement runs so, see ``gis.core.db.async_pool``) and the CPU time the server process
  spends per tile.
- the grids map: ``/maps/grids`` in headless Chromium, from navigation until every vector
  layer has drawn its tiles (VectorGrid's ``load``), and the size of the page's HTML;
- OGC items: every building, ``limit=10000``, following ``next`` links, against ``ogr2ogr``
  reading the table straight from PostGIS into GeoJSON (and GDAL's OAPIF driver doing the
  same through the server).

    python -m data.generate --grids 10000 --buildings 1000000 --format gpkg --out /tmp/bigcity
    python -m bench.tiles --city /tmp/bigcity --pg-home /tmp/bench-pg-tiles --json out.json
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import mapbox_vector_tile
import psycopg
from sqlalchemy import Engine

from bench.grid_mapping import open_city
from gis.core.db import pyformat
from gis.tiles.mvt import tile_params, tile_sql
from gis.tiles.registry import PUBLISHED
from tests.browser import CHROMIUM_FLAGS, chromium_path

VIEW_W, VIEW_H = 1280, 860
ZOOMS = range(12, 18)
# Concurrent clients of the burst view: about what a browser opens to one server.
BURST_CLIENTS = 4


def tile_xy(lon: float, lat: float, z: int) -> tuple[float, float]:
    n = 2**z
    x = (lon + 180.0) / 360.0 * n
    y = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n
    return x, y


def viewport_tiles(lon: float, lat: float, z: int) -> list[tuple[int, int, int]]:
    """The tiles of zoom z a 1280 x 860 map centred on (lon, lat) shows: at map zoom z + 1,
    each drawn at 512 px (maps/vector.py)."""
    cx, cy = tile_xy(lon, lat, z)
    half_w, half_h = VIEW_W / 2 / 512, VIEW_H / 2 / 512
    xs = range(math.floor(cx - half_w), math.floor(cx + half_w) + 1)
    ys = range(math.floor(cy - half_h), math.floor(cy + half_h) + 1)
    return [(z, x, y) for x in xs for y in ys]


def layers_at(z: int) -> list[str]:
    """What the grids map draws at zoom ``z``."""
    names = ["districts", "communities", "grids", "open_reports"]
    return names + (["buildings"] if z >= PUBLISHED["buildings"].minzoom else [])


def quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2), "p99_ms": round(p99 * 1000, 2)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(url: str) -> Iterator[tuple[str, int]]:
    """``gridpatrol serve`` on ``url``'s database, in its own process: its URL and pid."""
    port = free_port()
    env = os.environ | {"DATABASE_URL": url, "GRIDPATROL_TILE_URL": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx2.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def city_centre(engine: Engine) -> tuple[float, float]:
    """Centre of the districts' extent (lon, lat)."""
    with engine.connect() as conn:
        lon, lat = conn.exec_driver_sql(
            "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)::geometry) c "
            "FROM districts) s"
        ).one()
    return float(lon), float(lat)


TileRequest = tuple[str, tuple[int, int, int]]


def map_requests(url: str, places: int, seed: int) -> dict[int, list[TileRequest]]:
    """Per zoom, the (layer, tile) requests of the grids map at ``places`` seeded places."""
    with psycopg.connect(url) as conn:
        minx, miny, maxx, maxy = conn.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(geom)::geometry e FROM districts) s"
        ).fetchone()  # type: ignore[misc]
    rng = random.Random(seed)
    centres = [(rng.uniform(minx, maxx), rng.uniform(miny, maxy)) for _ in range(places)]
    return {
        z: sorted(
            {
                (layer, t)
                for lon, lat in centres
                for t in viewport_tiles(lon, lat, z)
                for layer in layers_at(z)
            }
        )
        for z in ZOOMS
    }


def _client(base: str) -> http.client.HTTPConnection:
    parsed = urlsplit(base)
    return http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=120)


def bench_tiles(url: str, base: str, pid: int, places: int, seed: int) -> dict[str, Any]:
    """Per zoom: p50/p99 of the server and of the bare statement over the same tiles; and,
    for what the server's own statement gains from its cached plan, the bare statement on
    its generic plan; and the server process's CPU time per tile."""
    results: dict[str, Any] = {}
    client = _client(base)
    generic = psycopg.connect(url, options="-c plan_cache_mode=force_generic_plan")
    with psycopg.connect(url) as conn, generic:
        for z, requests in map_requests(url, places, seed).items():
            server_s: list[float] = []
            bare_s: list[float] = []
            generic_s: list[float] = []
            server_cpu_s = 0.0
            sizes = 0
            statements = {name: pyformat(tile_sql(PUBLISHED[name])) for name in layers_at(z)}
            for timed in (False, True):
                for layer, (tz, tx, ty) in requests:
                    params = tile_params(tz, tx, ty)
                    start = time.perf_counter()
                    row = conn.execute(statements[layer], params).fetchone()
                    assert row is not None
                    bare = time.perf_counter() - start
                    cpu_start = cpu_s(pid)
                    start = time.perf_counter()
                    client.request("GET", f"/tiles/{layer}/{tz}/{tx}/{ty}.mvt")
                    response = client.getresponse()
                    content = response.read()
                    served = time.perf_counter() - start
                    cpu_used = cpu_s(pid) - cpu_start
                    assert response.status in (200, 204), content
                    # Not part of the target: the bare statement with its plan cached.
                    start = time.perf_counter()
                    generic.execute(statements[layer], params).fetchone()
                    bare_generic = time.perf_counter() - start
                    if not timed:
                        # Same features (their order in the tile may differ between plans).
                        assert _ids(row[0] or b"") == _ids(content), (layer, tz, tx, ty)
                    if timed:
                        bare_s.append(bare)
                        server_s.append(served)
                        generic_s.append(bare_generic)
                        server_cpu_s += cpu_used
                        sizes += len(content)
            srv, bare_q, generic_q = quantiles(server_s), quantiles(bare_s), quantiles(generic_s)
            results[str(z)] = {
                "tiles": len(requests),
                "mean_kb": round(sizes / len(requests) / 1024, 1),
                "server": srv,
                "bare_sql": bare_q,
                "ratio_p50": round(srv["p50_ms"] / bare_q["p50_ms"], 2),
                "ratio_p99": round(srv["p99_ms"] / bare_q["p99_ms"], 2),
                "ratio_total": round(sum(server_s) / sum(bare_s), 2),
                "bare_generic_plan": generic_q,
                "server_cpu_ms_per_tile": round(server_cpu_s / len(requests) * 1000, 2),
            }
            print(f"  z{z}: {json.dumps(results[str(z)])}", flush=True)
    return results


def bench_bursts(url: str, base: str, pid: int, places: int, seed: int) -> dict[str, Any]:
    """The whole-process view: every tile of every zoom back to back, from one client and
    from ``BURST_CLIENTS`` concurrent ones (threads, each with its own keep-alive connection
    or its own psycopg connection): tiles per second of the server and of the bare
    statements, and the server process's CPU time per tile.

    Unlike the paired rounds, nothing runs between two requests of a client, so neither the
    server nor PostgreSQL idles between tiles (waking an idle process costs time on a VM,
    and the server's path wakes one process more than the bare statement's).
    """
    requests = [r for batch in map_requests(url, places, seed).values() for r in batch]
    statements = {name: pyformat(tile_sql(PUBLISHED[name])) for name, _ in requests}

    def bare(share: list[TileRequest]) -> None:
        with psycopg.connect(url) as conn:
            for layer, (z, x, y) in share:
                conn.execute(statements[layer], tile_params(z, x, y)).fetchone()

    def served(share: list[TileRequest]) -> None:
        client = _client(base)
        for layer, (z, x, y) in share:
            client.request("GET", f"/tiles/{layer}/{z}/{x}/{y}.mvt")
            response = client.getresponse()
            response.read()
            assert response.status in (200, 204)
        client.close()

    result: dict[str, Any] = {"tiles": len(requests)}
    for clients in (1, BURST_CLIENTS):
        shares = [requests[i::clients] for i in range(clients)]
        rates: dict[str, float] = {}
        for name, run in (("bare", bare), ("server", served)):
            with ThreadPoolExecutor(clients) as pool:
                # Warm, as many at once: the server's pool grown, PostgreSQL's buffers.
                list(pool.map(run, [share[: len(share) // 10] for share in shares]))
                cpu = cpu_s(pid)
                start = time.perf_counter()
                list(pool.map(run, shares))
            rates[f"{name}_tiles_per_s"] = round(len(requests) / (time.perf_counter() - start))
            if name == "server":
                rates["server_cpu_ms_per_tile"] = round(
                    (cpu_s(pid) - cpu) / len(requests) * 1000, 2
                )
        rates["ratio"] = round(rates["bare_tiles_per_s"] / rates["server_tiles_per_s"], 2)
        result[f"clients_{clients}"] = rates
    print(f"  bursts: {json.dumps(result)}", flush=True)
    return result


def _ids(tile: bytes) -> dict[str, set[int]]:
    layers = mapbox_vector_tile.decode(tile) if tile else {}
    return {name: {f["id"] for f in layer["features"]} for name, layer in layers.items()}


# Every vector layer that asked for tiles has drawn them all (VectorGrid's load event).
_DRAWN = """() => {
  const s = window.gridpatrolVector && window.gridpatrolVector.stats;
  if (!s || !s.districts || !s.districts.loaded) return false;
  return Object.values(s).every(v => v.loaded >= v.loading);
}"""
_PROBLEMS = """() => /topology problem/.test(
  (document.querySelector('.gp-status') || {}).textContent || '')"""
_ZOOM = "() => window[Object.keys(window).find(k => k.startsWith('map_'))].getZoom()"


def bench_map(base: str, runs: int, centre: tuple[float, float]) -> dict[str, Any]:
    """/maps/grids in Chromium, from navigation until every layer's tiles are drawn: the whole
    city, and a district-sized view (zoom 13: grids drawn) around ``centre``."""
    from playwright.sync_api import sync_playwright

    lon, lat = centre
    views = {"city": "/maps/grids", "district": f"/maps/grids?bbox={lon - 0.09},{lat - 0.05},"
             f"{lon + 0.09},{lat + 0.05}"}  # fmt: skip
    result: dict[str, Any] = {
        "html_kb": {
            k: round(len(httpx2.get(base + v, timeout=120).content) / 1024, 1)
            for k, v in views.items()
        }  # fmt: skip
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        for view, path in views.items():
            timings: list[float] = []
            problems: list[float] = []
            for _ in range(runs):
                page = browser.new_page(viewport={"width": VIEW_W, "height": VIEW_H})
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))  # noqa: B023 (used now)
                start = time.perf_counter()
                page.goto(base + path, wait_until="commit")
                page.wait_for_function(_DRAWN, timeout=60_000, polling=20)
                timings.append(time.perf_counter() - start)
                page.wait_for_function(_PROBLEMS, timeout=120_000)
                problems.append(time.perf_counter() - start)
                stats = page.evaluate("() => window.gridpatrolVector.stats")
                zoom = page.evaluate(_ZOOM)
                assert not errors, errors
                page.close()
            result[view] = {
                "zoom": zoom,
                "first_view_s": [round(t, 2) for t in timings],
                "problems_shown_s": [round(t, 2) for t in problems],
                "drawn": stats,
            }
        browser.close()
    print(f"  map: {json.dumps(result)}", flush=True)
    return result


def bench_ogc(engine: Engine, base: str) -> dict[str, Any]:
    """Every building through /ogc items (limit 10000) vs ogr2ogr from PostGIS."""
    pages: list[float] = []
    features = 0
    start = time.perf_counter()
    with httpx2.Client(timeout=300) as client:
        url: str | None = f"{base}/ogc/collections/buildings/items?limit=10000"
        while url:
            t0 = time.perf_counter()
            body = client.get(url).text
            pages.append(time.perf_counter() - t0)
            # Read the members before the features (GDAL and ogr2ogr's copy do not parse the
            # whole document in Python either).
            page = json.loads(body[: body.index(', "features": [')] + "}")
            features += page["numberReturned"]
            url = next((lk["href"] for lk in page["links"] if lk["rel"] == "next"), None)
    served_s = time.perf_counter() - start
    pg = engine.url
    dsn = f"PG:host={pg.host} port={pg.port} dbname={pg.database} user={pg.username}" + (
        f" password={pg.password}" if pg.password else ""
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run(
            ["ogr2ogr", "-f", "GeoJSON", f"{tmp}/direct.geojson", dsn, "buildings"], check=True
        )
        direct_s = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run(
            ["ogr2ogr", "-f", "GeoJSON", f"{tmp}/oapif.geojson", f"OAPIF:{base}/ogc",
             "buildings", "-oo", "PAGE_SIZE=10000"],
            check=True,
        )  # fmt: skip
        oapif_s = time.perf_counter() - start
    tenth = max(1, len(pages) // 10)
    result = {
        "features": features,
        "pages": len(pages),
        "server_s": round(served_s, 1),
        "server_features_per_s": round(features / served_s),
        "first_tenth_page_ms": round(statistics.mean(pages[:tenth]) * 1000),
        "last_tenth_page_ms": round(statistics.mean(pages[-tenth:]) * 1000),
        "ogr2ogr_postgis_s": round(direct_s, 1),
        "ogr2ogr_postgis_features_per_s": round(features / direct_s),
        "ogr2ogr_oapif_s": round(oapif_s, 1),
        "ogr2ogr_oapif_features_per_s": round(features / oapif_s),
    }
    print(f"  ogc: {json.dumps(result)}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--city", type=Path, required=True)
    parser.add_argument("--pg-home", type=Path, required=True)
    parser.add_argument("--places", type=int, default=4, help="viewport centres per zoom")
    parser.add_argument("--map-runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--skip", nargs="*", default=[], choices=["tiles", "map", "ogc"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    engine = open_city(args.city, args.pg_home)
    url = engine.url.render_as_string(hide_password=False)
    out: dict[str, Any] = {"city": str(args.city)}
    plain_url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with server(url) as (base, pid):
        if "tiles" not in args.skip:
            print("tiles (server vs bare ST_AsMVT):", flush=True)
            out["tiles"] = bench_tiles(plain_url, base, pid, args.places, args.seed)
            out["tile_bursts"] = bench_bursts(plain_url, base, pid, args.places, args.seed)
        if "map" not in args.skip:
            print("grids map in Chromium:", flush=True)
            out["map"] = bench_map(base, args.map_runs, city_centre(engine))
        if "ogc" not in args.skip:
            print("OGC items, every building:", flush=True)
            out["ogc"] = bench_ogc(engine, base)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
