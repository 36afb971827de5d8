"""Acceptance, the resident (issue 19): on a phone in Chromium, with everything outside the
server blocked, a resident taps the map, then reports from the phone's (mocked) position, gets
the report number and the private link, follows it, and after a dispatcher closes the report
through the API rates the outcome once. The report lands in the grid that contains the point
by shapely; the photo attached (taken with GPS EXIF naming another place) is stored without
any EXIF; no console error, no failed or outside request on any page.

The screenshots of the README's "Residents" section are made here: set
``GRIDPATROL_SCREENSHOTS=docs/screenshots`` to write them there (else a temporary directory).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from PIL import Image
from playwright.sync_api import Geolocation, Page, Request, Route, sync_playwright
from shapely import wkb
from shapely.geometry import Point
from sqlalchemy import Engine, text

from api.main import create_app
from gis.reports.photos import open_photo
from tests.accounts import account_headers
from tests.browser import CHROMIUM_FLAGS, check_axe, chromium_path
from tests.conftest import settings_for
from tests.gis.reports.test_photos import GPS_IFD, gps_exif
from tests.maps.conftest import serve

pytestmark = pytest.mark.browser

# Inside district 990101, away from grid borders (tests/endpoints.py: INLAND), a little off.
PHONE_AT: Geolocation = {"latitude": 30.65871, "longitude": 104.04538}


def phone_photo(path: Path) -> Path:
    """A JPEG as a phone takes it: EXIF with the GPS position where it was taken (30°39'35"N
    104°3'48"E, another place than the report's), the camera's make."""
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (90, 140, 60)).save(out, format="JPEG", exif=gps_exif())
    path.write_bytes(out.getvalue())
    with Image.open(path) as check:
        assert GPS_IFD in check.getexif()
    return path


@dataclass
class Watch:
    """What the browser saw that should not happen."""

    problems: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("pageerror", lambda exc: self.problems.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: (
                self.problems.append(f"console: {msg.text}") if msg.type == "error" else None
            ),
        )
        page.on(
            "response",
            lambda r: self.problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        page.on("requestfailed", lambda r: self.problems.append(f"failed {r.url}: {r.failure}"))

        def route(route_obj: Route, request: Request) -> None:
            if request.url.startswith(("http://127.0.0.1:", "data:", "about:", "blob:")):
                route_obj.continue_()
            else:
                self.problems.append(f"outside request {request.url}")
                route_obj.abort()

        page.route("**/*", route)


@pytest.fixture(scope="module")
def site(pg_server: Any, templates: dict[str, str]) -> Iterator[tuple[str, Engine, dict[str, str]]]:
    from tests.conftest import fresh_database

    for engine in fresh_database(pg_server, templates["city"]):
        admin = account_headers(engine, "desk-admin", "admin", scope="990101")
        with serve(create_app(settings_for(engine), engine=engine)) as base:
            yield base, engine, admin


def _shots(tmp_path: Path) -> Path:
    where = Path(os.environ.get("GRIDPATROL_SCREENSHOTS") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


def _grid_by_shapely(engine: Engine, lat: float, lon: float) -> str:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT code, ST_AsBinary(geom) FROM grids")).all()
    inside = [code for code, geom in rows if wkb.loads(bytes(geom)).contains(Point(lon, lat))]
    assert len(inside) == 1, inside
    return str(inside[0])


def _close_through_the_api(base: str, engine: Engine, admin: dict[str, str], rid: int) -> None:
    with engine.connect() as conn:
        worker_id = conn.execute(
            text(
                "SELECT wg.worker_id FROM worker_grids wg JOIN reports r "
                "ON r.grid_code = wg.grid_code WHERE r.id = :id ORDER BY 1 LIMIT 1"
            ),
            {"id": rid},
        ).scalar_one()
    for step in (
        {"action": "accept"},
        {"action": "dispatch", "worker_id": worker_id},
        {"action": "arrive"},
        {"action": "resolve", "note": "bins emptied"},
        {"action": "verify"},
        {"action": "close"},
    ):
        moved = httpx2.post(
            f"{base}/reports/{rid}/transitions", json=step, headers=admin, timeout=60
        )
        assert moved.status_code == 200, moved.text


def test_a_resident_reports_from_the_phone_follows_and_rates(
    site: tuple[str, Engine, dict[str, str]], tmp_path: Path
) -> None:
    base, engine, admin = site
    shots = _shots(tmp_path)
    watch = Watch()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(
                **p.devices["Pixel 5"],
                geolocation=PHONE_AT,
                permissions=["geolocation"],
                locale="zh-CN",
            )
            page = context.new_page()
            watch.attach(page)
            page.goto(f"{base}/app/report", wait_until="networkidle")
            assert page.locator("html").get_attribute("lang") == "zh-CN"
            # The grids drawn from the server's vector tiles.
            # Arrow functions, not bare expressions: Playwright evaluates a bare expression
            # with eval() in the page, which the page's CSP (no 'unsafe-eval') refuses.
            page.wait_for_function(
                "() => document.querySelectorAll('#map .leaflet-overlay-pane path, #map path')"
                ".length > 0",
                timeout=30_000,
            )
            check_axe(page)
            # A tap on the map fills the coordinates with the tapped place.
            box = page.locator("#map").bounding_box()
            assert box is not None
            page.locator("#map").tap(position={"x": box["width"] / 2, "y": box["height"] / 2})
            tapped = float(page.locator("#lat").input_value())
            assert abs(tapped) > 1 and page.locator("#locate-status").inner_text()
            # The phone's position replaces it.
            page.get_by_role("button", name="使用我的位置").click()
            page.wait_for_function(
                f"() => Math.abs(parseFloat(document.getElementById('lat').value) - "
                f"{PHONE_AT['latitude']}) < 1e-6"
            )
            assert abs(float(page.locator("#lon").input_value()) - PHONE_AT["longitude"]) < 1e-6
            # Every control has its label (found by it) and the deadline is promised.
            category = page.get_by_label("类别")
            option = category.locator("option[value=sanitation]").inner_text()
            assert "10分钟内到场" in option and "1小时内办结" in option
            category.select_option("sanitation")
            page.get_by_label("问题描述").fill("垃圾桶满了，溢到路上")
            # A photo from the phone (the 8 MB rule said next to it).
            assert "8 MB" in page.locator("#photo-hint").inner_text()
            page.get_by_label("照片（可选）").set_input_files(phone_photo(tmp_path / "IMG_1.jpg"))
            page.get_by_label("您的姓名").fill("李娜")
            page.get_by_label("您的电话").fill("13800001111")
            # Keyboard: from the phone field, Tab reaches the send button.
            page.get_by_label("您的电话").focus()
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.id") == "send"
            page.screenshot(path=str(shots / "resident-report.png"), full_page=True)
            page.keyboard.press("Enter")
            page.wait_for_url("**/app/follow/**")
            heading = page.locator("h1").inner_text()
            link = page.get_by_label("您的跟进链接").input_value()
            assert link.startswith(f"{base}/app/follow/") and "?" not in link
            with engine.connect() as conn:
                report = conn.execute(
                    text(
                        "SELECT id, grid_code, ST_Y(geom) AS lat, ST_X(geom) AS lon, "
                        "reporter_name FROM reports ORDER BY id DESC LIMIT 1"
                    )
                ).one()
            assert heading == f"第 {report.id} 号上报"
            assert (report.lat, report.lon) == pytest.approx(
                (PHONE_AT["latitude"], PHONE_AT["longitude"]), abs=1e-7
            )
            assert report.grid_code == _grid_by_shapely(
                engine, PHONE_AT["latitude"], PHONE_AT["longitude"]
            )
            assert report.reporter_name == "李娜"
            assert "李娜" not in page.content()
            # The resident sees that one photo went with it, not the photo itself.
            assert page.locator("#photo-count").get_attribute("data-count") == "1"
            with engine.connect() as conn:
                photo_id = conn.execute(
                    text("SELECT id FROM report_photos WHERE report_id = :id"), {"id": report.id}
                ).scalar_one()
                info, stored = open_photo(
                    conn, int(report.id), int(photo_id), settings=settings_for(engine)
                )
            with Image.open(stored) as image:  # read back independently of the code
                assert len(image.getexif()) == 0 and GPS_IFD not in image.getexif()
                assert image.size == (320, 240) and "exif" not in image.info
            assert b"PhoneMaker" not in stored.read_bytes() and info.source == "resident"
            page.screenshot(path=str(shots / "resident-sent.png"), full_page=True)
            check_axe(page)
            # While it is open, one more photo from the link: the count follows.
            page.get_by_label("问题照片").set_input_files(phone_photo(tmp_path / "IMG_2.jpg"))
            with page.expect_navigation():
                page.click("#add-photos")
            assert "photos=1" in page.url
            assert page.locator("#photo-count").get_attribute("data-count") == "2"
            assert "已添加 1 张照片" in page.locator("#photos-added").inner_text()
            check_axe(page)

            # Later, the link again: closed by a dispatcher through the API, rated once.
            _close_through_the_api(base, engine, admin, int(report.id))
            page.goto(link, wait_until="networkidle")
            assert page.locator("#status").get_attribute("data-status") == "closed"
            actions = page.locator("#events li").evaluate_all(
                "items => items.map(i => i.dataset.action)"
            )
            assert actions == [
                *("report", "accept", "dispatch", "arrive", "resolve", "verify", "close")
            ]
            assert "bins emptied" not in page.content()
            page.get_by_label("满意", exact=True).check()
            page.get_by_label("备注（可选）").fill("很快就处理好了")
            page.screenshot(path=str(shots / "resident-rate.png"), full_page=True)
            check_axe(page)
            page.get_by_role("button", name="提交评价").click()
            page.wait_for_url("**rated=1**")
            assert "谢谢：您的评价已保存。" in page.content()
            assert page.locator("form#rating-form").count() == 0
            check_axe(page)
        finally:
            browser.close()
    with engine.connect() as conn:
        rating = conn.execute(
            text("SELECT satisfied, rating_note FROM report_followups WHERE report_id = :id"),
            {"id": report.id},
        ).one()
    assert tuple(rating) == (True, "很快就处理好了")
    assert watch.problems == []
