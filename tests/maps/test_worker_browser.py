"""Acceptance, the grid worker (issue 19): on a phone in Chromium (Pixel 5), with everything
outside the server blocked, a worker signs in, arrives at a report dispatched to them and
resolves it with a note and a photo, sees today's published route drawn on the map (its
path and numbered stops over the grids' vector tiles), records the walk from the phone's
(mocked) positions along the route — kept across a reload — and sends it: the track lands as
the plan's track, its stored geometry through the positions fed (by shapely). No console
error, no failed or outside request, and no serious axe-core violation.

The screenshots of the README's "Grid workers" section are made here: set
``GRIDPATROL_SCREENSHOTS=docs/screenshots`` to write them there (else a temporary directory).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import numpy as np
import pytest
import shapely
from PIL import Image
from playwright.sync_api import Page, sync_playwright
from pyproj import Transformer
from shapely import wkb
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, text

from api.main import create_app
from tests.accounts import PASSWORD, account_headers
from tests.browser import CHROMIUM_FLAGS, PageWatch, check_axe, chromium_path
from tests.conftest import settings_for
from tests.endpoints import INLAND
from tests.maps.conftest import serve

pytestmark = pytest.mark.browser

# Metres in the demo city (UTM 48N), for comparing the stored track with the fixes fed.
TO_METRES = Transformer.from_crs(4326, 32648, always_xy=True).transform
FIXES = 8


@dataclass
class Round:
    base: str
    engine: Engine
    report_id: int
    plan_id: int
    route_seq: int
    # The route's street path (lon, lat), as the plan stored it.
    path: list[tuple[float, float]]


@pytest.fixture(scope="module")
def round_(pg_server: Any, templates: dict[str, str], tmp_path_factory: Any) -> Iterator[Round]:
    from tests.conftest import fresh_database

    photos = tmp_path_factory.mktemp("photos")
    for engine in fresh_database(pg_server, templates["city"]):
        app = create_app(settings_for(engine, photo_dir=photos), engine=engine)
        with serve(app) as base:
            created = httpx2.post(
                f"{base}/reports",
                json={"category": "sanitation", "description": "垃圾桶满了", **INLAND},
                timeout=60,
            )
            assert created.status_code == 201, created.text
            report_id = int(created.json()["id"])
            with engine.connect() as conn:
                district, grid = conn.execute(
                    text("SELECT district_code, grid_code FROM reports WHERE id = :id"),
                    {"id": report_id},
                ).one()
                worker_id, worker_code = conn.execute(
                    text(
                        "SELECT w.id, w.code FROM workers w JOIN worker_grids wg "
                        "ON wg.worker_id = w.id WHERE wg.grid_code = :g ORDER BY w.id LIMIT 1"
                    ),
                    {"g": grid},
                ).one()
            dispatcher = account_headers(engine, "walk-dispatcher", "dispatcher", scope=district)
            account_headers(engine, "walker", "worker", worker=worker_code)
            for step in ({"action": "accept"}, {"action": "dispatch", "worker_id": worker_id}):
                moved = httpx2.post(
                    f"{base}/reports/{report_id}/transitions",
                    json=step,
                    headers=dispatcher,
                    timeout=60,
                )
                assert moved.status_code == 200, moved.text
            plan = {
                "name": "今日巡查",
                "start_at": datetime.now(UTC).isoformat(),
                "time_limit_s": 0.5,
                "patrollers": [
                    {
                        "name": "Walker",
                        "worker": worker_code,
                        "start": {"lon": INLAND["lon"], "lat": INLAND["lat"]},
                    }
                ],
                "stops": {
                    "points": [
                        {"lon": INLAND["lon"] + 0.003, "lat": INLAND["lat"], "label": "东门"},
                        {"lon": INLAND["lon"], "lat": INLAND["lat"] + 0.002, "label": "菜市场"},
                    ]
                },
            }
            planned = httpx2.post(
                f"{base}/patrols/plan", json=plan, headers=dispatcher, timeout=120
            )
            assert planned.status_code == 201, planned.text
            plan_id = int(planned.json()["id"])
            published = httpx2.post(
                f"{base}/patrols/{plan_id}/publish", headers=dispatcher, timeout=60
            )
            assert published.status_code == 200, published.text
            (route,) = [r for r in published.json()["routes"] if r["published_to"] == "walker"]
            path = [(float(x), float(y)) for x, y, *_ in route["geometry"]["coordinates"]]
            yield Round(base, engine, report_id, plan_id, int(route["seq"]), path)


def _metres(geom: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geom, lambda xy: np.column_stack(TO_METRES(xy[:, 0], xy[:, 1])))


def _shots(tmp_path: Path) -> Path:
    where = Path(os.environ.get("GRIDPATROL_SCREENSHOTS") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


def _along(path: list[tuple[float, float]], n: int) -> list[tuple[float, float]]:
    """``n`` points evenly spaced along the path (lon, lat), its ends included."""
    line = LineString(path)
    return [(p.x, p.y) for p in (line.interpolate(k / (n - 1), normalized=True) for k in range(n))]


def _photo(where: Path) -> Path:
    """A phone camera's JPEG of the cleaned spot."""
    path = where / "after.jpg"
    Image.new("RGB", (320, 240), (90, 150, 70)).save(path, "JPEG")
    return path


def _positions(page: Page) -> int:
    return int(
        page.evaluate(
            "() => JSON.parse(localStorage.getItem(document.getElementById('walk')"
            ".dataset.key) || '[]').length"
        )
    )


def test_a_worker_resolves_follows_the_route_and_sends_the_walk(
    round_: Round, tmp_path: Path
) -> None:
    base, engine = round_.base, round_.engine
    shots = _shots(tmp_path)
    watch = PageWatch()
    fed = _along(round_.path, FIXES)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(
                **p.devices["Pixel 5"],
                geolocation={"longitude": fed[0][0], "latitude": fed[0][1], "accuracy": 8},
                permissions=["geolocation"],
                locale="zh-CN",
            )
            page = context.new_page()
            watch.attach(page)
            page.goto(f"{base}/app/worker")
            assert "/app/login" in page.url
            page.get_by_label("账号").fill("walker")
            page.get_by_label("密码").fill(PASSWORD)
            with page.expect_navigation():
                page.locator("form.sign-in button[type=submit]").click()
            assert page.url.startswith(f"{base}/app/worker")
            assert page.locator("html").get_attribute("lang") == "zh-CN"

            # The report dispatched to me: arrive, then resolve with a note.
            card = page.locator(f"#report-{round_.report_id}")
            assert card.locator("h3").inner_text().startswith(f"第 {round_.report_id} 号")
            page.wait_for_function(
                "() => document.querySelectorAll('#route-map .leaflet-overlay-pane path')"
                ".length > 1",
                timeout=30_000,
            )
            page.screenshot(path=str(shots / "worker-reports.png"), full_page=False)
            check_axe(page)
            with page.expect_navigation():
                card.get_by_role("button", name="到场").click()
            card = page.locator(f"#report-{round_.report_id}")
            assert card.get_attribute("data-status") == "in_progress"
            card.get_by_label("处置情况（必填）").fill("已清运，地面已清扫")
            card.get_by_label("处置结果照片").set_input_files(str(_photo(tmp_path)))
            with page.expect_navigation():
                card.get_by_role("button", name="办结").click()
            assert page.locator("#done").inner_text() == f"第 {round_.report_id} 号上报：已完成。"
            assert page.locator(f"#report-{round_.report_id}").count() == 0

            # Today's route: the path drawn and one numbered pin per stop, in order.
            page.wait_for_function(
                "() => document.querySelectorAll('#route-map .leaflet-overlay-pane path')"
                ".length > 1",
                timeout=30_000,
            )
            pins = page.locator("#route-map .stop-pin").all_inner_texts()
            listed = page.locator("#stops li").count()
            assert pins == [str(n) for n in range(1, listed + 1)] and listed == 2
            page.locator("#route").scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "worker-route.png"), full_page=False)

            # Record the walk: the phone moves along the route.
            page.get_by_role("button", name="开始记录").click()
            for k, (lon, lat) in enumerate(fed):
                context.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 8})
                page.wait_for_function(
                    f"() => (JSON.parse(localStorage.getItem("
                    f"document.getElementById('walk').dataset.key) || '[]')).length >= {k + 1}",
                    timeout=15_000,
                )
                page.wait_for_timeout(50)
            page.get_by_role("button", name="停止记录").click()
            assert _positions(page) == FIXES
            # A reload loses nothing: the positions are kept on the phone.
            page.reload()
            assert _positions(page) == FIXES
            assert f"{FIXES}" in page.locator("#walk-status").inner_text()
            page.locator("#walk").scroll_into_view_if_needed()
            with page.expect_response(lambda r: "/track" in r.url) as sent:
                page.get_by_role("button", name="作为轨迹上传").click()
            assert sent.value.status == 201
            page.wait_for_function(
                "() => document.getElementById('walk-result').dataset.trackId !== undefined"
            )
            result = page.locator("#walk-result").inner_text()
            assert result.startswith("轨迹已保存")
            assert _positions(page) == 0
            page.screenshot(path=str(shots / "worker-walk.png"), full_page=False)
            track_id = int(page.locator("#walk-result").get_attribute("data-track-id") or 0)
        finally:
            browser.close()
    assert watch.problems == []
    with engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT t.plan_id, r.seq, t.points, ST_AsBinary(ST_Force2D(t.geom)) AS geom "
                "FROM patrol_tracks t JOIN patrol_routes r ON r.id = t.route_id "
                "WHERE t.id = :id"
            ),
            {"id": track_id},
        ).one()
        events = conn.execute(
            text(
                "SELECT action, actor, note FROM report_events WHERE report_id = :id "
                "AND action IN ('arrive', 'resolve') ORDER BY id"
            ),
            {"id": round_.report_id},
        ).all()
        photo = conn.execute(
            text(
                "SELECT p.source, e.action FROM report_photos p "
                "JOIN report_events e ON e.id = p.event_id WHERE p.report_id = :id"
            ),
            {"id": round_.report_id},
        ).one()
    assert tuple(photo) == ("worker", "resolve")
    assert (stored.plan_id, stored.seq, stored.points) == (round_.plan_id, round_.route_seq, FIXES)
    line = _metres(wkb.loads(bytes(stored.geom)))
    fed_m = [_metres(Point(lon, lat)) for lon, lat in fed]
    # Every fix lies on the stored track, and the track's vertices are the fixes, in order.
    assert max(line.distance(p) for p in fed_m) < 0.5
    assert LineString([p.coords[0] for p in fed_m]).hausdorff_distance(line) < 0.5
    assert [tuple(e) for e in events] == [
        ("arrive", "walker", None),
        ("resolve", "walker", "已清运，地面已清扫"),
    ]
