"""Heavy anonymous requests against light ones: does ``GET /reports/{id}`` stay fast while six
anonymous clients ask for hotspot analyses at once?

Starts ``gridpatrol serve`` (``python -m cli serve``) on ``DATABASE_URL`` twice: once with the
heavy-request limits as configured by default (bounded pool, anonymous rate, cache), once with
them off (six slots, no rate: what the server did before). Each time, six anonymous clients
keep asking for hotspot analyses for ``--duration`` seconds, each request a new hexagon size
(9,999 permutations: never a cache hit; a refused client waits its Retry-After, then asks
again), while one client reads ``GET /reports/{id}`` every 20 ms; prints and appends to
``--out`` the latency percentiles of the reads and the heavy requests' statuses. Not part of
the test suite.

    DATABASE_URL=postgresql://… python -m bench.heavy_requests --duration 20 \
        --out bench/results.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx2

from tests.live import free_port

ROOT = Path(__file__).resolve().parents[1]
HEAVY_CLIENTS = 6


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _serve(database_url: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=os.environ | {"DATABASE_URL": database_url} | env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_healthy(base: str, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx2.get(base + "/health", timeout=5).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit("the server did not come up")


def run(
    database_url: str, *, label: str, env: dict[str, str], report_id: int, duration_s: float
) -> dict[str, Any]:
    """One server, six heavy anonymous requests at once, reads measured meanwhile."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(database_url, port, env)
    try:
        _wait_healthy(base)
        assert httpx2.get(f"{base}/reports/{report_id}", timeout=30).status_code == 200
        statuses: list[int] = []
        heavy_s: list[float] = []

        started = time.monotonic()

        def heavy(k: int) -> None:
            n = 0
            with httpx2.Client(base_url=base, timeout=600) as client:
                while time.monotonic() - started < duration_s:
                    size_m = 200 + HEAVY_CLIENTS * n + k  # never asked before: no cache hit
                    n += 1
                    t0 = time.monotonic()
                    response = client.get(
                        "/analytics/hotspots", params={"unit": "hex", "size_m": size_m}
                    )
                    heavy_s.append(time.monotonic() - t0)
                    statuses.append(response.status_code)
                    if response.status_code in (429, 503):  # as asked: wait, then again
                        wait_s = float(response.headers.get("retry-after", "1"))
                        time.sleep(min(wait_s, max(0.0, duration_s - (time.monotonic() - started))))

        threads = [threading.Thread(target=heavy, args=(k,)) for k in range(HEAVY_CLIENTS)]
        for thread in threads:
            thread.start()
        reads: list[float] = []
        with httpx2.Client(base_url=base, timeout=60) as http:
            while any(t.is_alive() for t in threads):
                t0 = time.monotonic()
                assert http.get(f"/reports/{report_id}").status_code == 200
                reads.append(time.monotonic() - t0)
                time.sleep(0.02)
        for thread in threads:
            thread.join()
        result = {
            "bench": "heavy_requests",
            "label": label,
            "heavy_statuses": {str(s): statuses.count(s) for s in sorted(set(statuses))},
            "heavy_max_s": round(max(heavy_s), 2),
            "window_s": round(time.monotonic() - started, 2),
            "reads": len(reads),
            "read_p50_ms": round(_percentile(reads, 0.50) * 1000, 1),
            "read_p99_ms": round(_percentile(reads, 0.99) * 1000, 1),
            "read_max_ms": round(max(reads) * 1000, 1),
        }
        print(json.dumps(result))
        return result
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report-id", type=int, default=1)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of heavy load")
    parser.add_argument("--out", type=Path, help="append the results (JSON lines)")
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        raise SystemExit("set DATABASE_URL to a database with the demo city")
    runs = [
        run(
            database_url,
            label="limits on (defaults)",
            env={},
            report_id=args.report_id,
            duration_s=args.duration,
        ),
        run(
            database_url,
            label="limits off (6 slots, no anonymous rate)",
            env={"GRIDPATROL_HEAVY_SLOTS": "6", "GRIDPATROL_HEAVY_RATE_PER_MINUTE": "0"},
            report_id=args.report_id,
            duration_s=args.duration,
        ),
    ]
    if args.out:
        with args.out.open("a") as out:
            for result in runs:
                out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
