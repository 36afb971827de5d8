"""The front desk on a phone, and the dispatcher's queue with 10,000 open reports.

Starts a throwaway embedded PostgreSQL (``--home``, not durable) and ``gridpatrol serve``
(``python -m cli serve``, which loads the demo city into the empty database), then:

1. **The resident's page on a phone.** Headless Chromium (Debian's) with Playwright's
   "Pixel 5" profile and the network throttled through the DevTools protocol to Lighthouse's
   mobile profile ("slow 4G": 150 ms round trip, 1.6 Mbit/s down, 750 kbit/s up; no CPU
   throttling) opens ``/app/report`` with an empty cache. The page is **usable** at the first
   animation frame where the category ``<select>`` is in the document and enabled *and* the
   map has drawn the grids of at least one vector tile (an SVG ``path`` in ``#map``): the
   resident can pick a category and tap the place. Measured in the page at that frame:
   ``performance.now()`` (time since navigation start) and the bytes transferred so far (the
   sum of ``transferSize`` of the navigation and every resource finished, headers included).
   Chromium's own count of every byte of the visit (``encodedDataLength`` of each finished
   request, until the network is idle) is printed beside it. Baselines in the same run:
   ``/app/login`` (a form on the same stylesheet, no map; usable at its load event) cold, and
   ``/app/report`` again with a warm cache (the same browser context, a second visit).
   Targets (issue 19): at most 150 KB and 1.5 s to usable, cold.
2. **The dispatcher's queue with 10,000 open reports.** Inserts 10,000 open reports (copies of
   the demo's, spread over its grids, with deadlines around now) in one statement, then times
   the desk's queue fragment (``GET /app/dispatch/queue``, signed in, city-wide) against the
   plain API list (``GET /reports?status=reported``) in the same run.

Prints a table and appends one JSON line per measurement to ``--out``. Not part of the tests.

    python -m bench.pages --runs 3 --out bench/results.jsonl
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import httpx2
from playwright.sync_api import Browser, Playwright, sync_playwright
from sqlalchemy import Engine, text

from cli.cluster import EmbeddedCluster
from gis.core.db import make_engine
from tests.accounts import PASSWORD, account_headers
from tests.browser import CHROMIUM_FLAGS, chromium_path, sign_in_cookie
from tests.live import serve_process, server_env

DEVICE = "Pixel 5"
# Lighthouse's mobile throttling (its "slow 4G"), as DevTools' Network.emulateNetworkConditions
# takes it: latency in ms, throughput in bytes per second.
NETWORK = {
    "name": "slow 4G (150 ms RTT, 1.6 Mbit/s down, 750 kbit/s up)",
    "latency": 150,
    "downloadThroughput": 1.6e6 / 8,
    "uploadThroughput": 750e3 / 8,
}
TARGET_KB, TARGET_S = 150, 1.5
QUEUE_REPORTS = 10_000

# Bytes finished so far, by the page's own Resource Timing (same origin: sizes are visible).
_BYTES_SO_FAR = """(performance.getEntriesByType('navigation')
    .concat(performance.getEntriesByType('resource'))
    .reduce((sum, e) => sum + (e.transferSize || 0), 0))"""
# What was loaded when: path, start and end (ms since navigation start), bytes.
_TIMELINE = """performance.getEntriesByType('resource').map(e => [
    new URL(e.name).pathname.slice(0, 48), Math.round(e.startTime), Math.round(e.responseEnd),
    e.transferSize])"""
USABLE_REPORT = f"""() => {{
  const select = document.getElementById('category');
  const drawn = document.querySelectorAll('#map path').length;
  if (!select || select.disabled || drawn === 0) return false;
  return {{ms: performance.now(), bytes: {_BYTES_SO_FAR}, timeline: {_TIMELINE}}};
}}"""
USABLE_FORM = f"""() => {{
  if (document.readyState !== 'complete' || !document.getElementById('username')) return false;
  return {{ms: performance.now(), bytes: {_BYTES_SO_FAR}}};
}}"""


def _visit(browser: Browser, p: Playwright, url: str, usable: str, *, warm: bool) -> dict[str, Any]:
    """One visit to ``url`` on the phone profile, throttled; ``warm`` visits it twice in one
    context and measures the second."""
    context = browser.new_context(**p.devices[DEVICE], locale="zh-CN")
    try:
        page = context.new_page()
        session = context.new_cdp_session(page)
        session.send("Network.enable")
        conditions = {k: v for k, v in NETWORK.items() if k != "name"}
        session.send("Network.emulateNetworkConditions", {"offline": False, **conditions})
        if warm:
            page.goto(url, wait_until="networkidle")
            page.wait_for_function(usable, timeout=60_000)
            page.goto("about:blank")
        wire: list[float] = []
        session.on("Network.loadingFinished", lambda e: wire.append(float(e["encodedDataLength"])))
        page.goto(url, wait_until="commit")
        found = page.wait_for_function(usable, polling="raf", timeout=60_000).json_value()
        page.wait_for_load_state("networkidle")
        return {
            "usable_s": round(found["ms"] / 1000, 3),
            "usable_kb": round(found["bytes"] / 1000, 1),
            "visit_kb": round(sum(wire) / 1000, 1),
            "requests": len(wire),
            "timeline": found.get("timeline", []),
        }
    finally:
        context.close()


def measure_pages(base: str, runs: int) -> list[dict[str, Any]]:
    cases = [
        ("/app/report, cold cache", f"{base}/app/report", USABLE_REPORT, False),
        (
            "baseline: /app/login (form, no map), cold cache",
            f"{base}/app/login",
            USABLE_FORM,
            False,
        ),
        ("baseline: /app/report, warm cache", f"{base}/app/report", USABLE_REPORT, True),
    ]
    rows = []
    timelines: dict[str, list[Any]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            for label, url, usable, warm in cases:
                visits = [_visit(browser, p, url, usable, warm=warm) for _ in range(runs)]
                row: dict[str, Any] = {"label": label, "runs": runs}
                for key in ("usable_s", "usable_kb", "visit_kb", "requests"):
                    row[key] = statistics.median(v[key] for v in visits)
                row["usable_s_max"] = max(v["usable_s"] for v in visits)
                timelines[label] = visits[-1]["timeline"]
                rows.append(row)
        finally:
            browser.close()
    for path, start, end, size in timelines[cases[0][0]]:
        print(f"  {path:48} {start:6d} → {end:6d} ms {size / 1000:7.1f} KB")
    cold = rows[0]
    for row in rows:
        row["kb_ratio_to_report"] = round(row["usable_kb"] / cold["usable_kb"], 3)
        row["s_ratio_to_report"] = round(row["usable_s"] / cold["usable_s"], 3)
    return rows


def add_open_reports(engine: Engine, n: int) -> int:
    """Insert ``n`` open reports (copies of the demo's, round the grids, deadlines around
    now) in one statement; the count of open reports after."""
    with engine.begin() as conn:
        conn.execute(
            text(
                """
                WITH src AS (
                    SELECT row_number() OVER (ORDER BY id) - 1 AS k, r.*
                    FROM reports r WHERE grid_code IS NOT NULL
                ), m AS (SELECT count(*) AS n FROM src)
                INSERT INTO reports (
                    category, description, status, reported_at, updated_at, located,
                    district_code, subdistrict_code, community_code, grid_code,
                    building_id, building_distance_m, geom, due_arrival_at, due_resolution_at,
                    escalation_level, responsible_code, coordinating_community_code)
                SELECT s.category, 'bench: queue', 'reported', now() - make_interval(mins => i),
                    now(), true, s.district_code, s.subdistrict_code, s.community_code,
                    s.grid_code, s.building_id, s.building_distance_m, s.geom,
                    now() + make_interval(mins => (i % 600) - 300),
                    now() + make_interval(mins => (i % 600) + 60),
                    s.escalation_level, s.responsible_code, s.coordinating_community_code
                FROM generate_series(1, :n) AS i, m, src s
                WHERE s.k = i % m.n
                """
            ),
            {"n": n},
        )
        count = conn.execute(
            text("SELECT count(*) FROM reports WHERE status = 'reported'")
        ).scalar_one()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE reports"))
    return int(count)


def _timed(client: httpx2.Client, url: str, repeats: int, **kwargs: Any) -> dict[str, Any]:
    client.get(url, **kwargs).raise_for_status()  # warm: the first request pays for plans
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        answer = client.get(url, **kwargs)
        times.append((time.perf_counter() - start) * 1000)
        answer.raise_for_status()
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p90_ms": round(times[int(0.9 * (len(times) - 1))], 1),
        "kb": round(len(answer.content) / 1000, 1),
    }


def measure_queue(base: str, engine: Engine, repeats: int) -> list[dict[str, Any]]:
    open_reports = add_open_reports(engine, QUEUE_REPORTS)
    bearer = account_headers(engine, "bench-desk", "admin")
    cookie = sign_in_cookie(base, "bench-desk", PASSWORD)
    html = {"Accept": "text/html"}
    with httpx2.Client(timeout=60, cookies={cookie["name"]: cookie["value"]}) as client:
        queue = _timed(client, f"{base}/app/dispatch/queue?lang=en", repeats, headers=html)
    with httpx2.Client(timeout=60) as client:
        listing = _timed(client, f"{base}/reports?status=reported", repeats, headers=bearer)
    rows = [
        {"label": "GET /app/dispatch/queue (desk fragment, 20 rows)", **queue},
        {"label": "GET /reports?status=reported (API list, default page)", **listing},
    ]
    for row in rows:
        row["open_reports"] = open_reports
        row["ratio_to_list"] = round(row["p50_ms"] / listing["p50_ms"], 2)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, default=Path("/tmp/bench-pages-pg"))
    parser.add_argument("--runs", type=int, default=3, help="visits per page case")
    parser.add_argument("--repeats", type=int, default=30, help="requests per queue case")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    shutil.rmtree(args.home, ignore_errors=True)
    cluster = EmbeddedCluster(args.home, durable=False)
    engine = make_engine(cluster.start())
    try:
        # The server's log beside the cluster, thrown away with it on the next run.
        with serve_process(server_env(engine), args.home / "serve.log", timeout_s=600) as base:
            pages = measure_pages(base, args.runs)
            queue = measure_queue(base, engine, args.repeats)
    finally:
        engine.dispose()
        cluster.stop()

    print(f"network: {NETWORK['name']}, device: {DEVICE}, no CPU throttling")
    print(f"{'page':52} {'usable s':>9} {'KB usable':>10} {'KB visit':>9} {'req':>4}")
    for row in pages:
        print(
            f"{row['label']:52} {row['usable_s']:9.2f} {row['usable_kb']:10.1f} "
            f"{row['visit_kb']:9.1f} {row['requests']:4.0f}"
        )
    cold = pages[0]
    ok = cold["usable_kb"] <= TARGET_KB and cold["usable_s"] <= TARGET_S
    print(f"targets ≤ {TARGET_KB} KB and ≤ {TARGET_S} s to usable: {'met' if ok else 'NOT met'}")
    title = f"queue, {queue[0]['open_reports']} open reports"
    print(f"{title:52} {'p50 ms':>9} {'p90 ms':>10}")
    for row in queue:
        print(f"{row['label']:52} {row['p50_ms']:9.1f} {row['p90_ms']:10.1f}")
    if args.out:
        with args.out.open("a") as out:
            for row in pages:
                out.write(json.dumps({"bench": "pages", "network": NETWORK["name"], **row}) + "\n")
            for row in queue:
                out.write(json.dumps({"bench": "dispatch_queue", **row}) + "\n")


if __name__ == "__main__":
    main()
