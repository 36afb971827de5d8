"""Acceptance, the patrol leader's page in Chromium against a real server on PostGIS: the
leader signs in by the form, ticks three patrollers of three districts, a station and a few
buildings of the community straddling them, plans (the request indicator shows meanwhile),
sees one route per patroller drawn, toggles the by_district plan on the same map beside the
totals table, and publishes; nothing is loaded from outside the server and no script error
is thrown.

The screenshots of the README's "Patrol leader" section are made here: set
``GRIDPATROL_SCREENSHOTS=docs/screenshots`` to write them there (else a temporary directory).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.sync_api import Page
from sqlalchemy import Engine, text

from api.main import create_app
from tests.accounts import PASSWORD, account_headers
from tests.browser import check_axe, load_page
from tests.conftest import settings_for
from tests.maps.conftest import serve

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(pg_server: Any, templates: dict[str, str]) -> Iterator[tuple[str, Engine]]:
    from tests.conftest import fresh_database

    for engine in fresh_database(pg_server, templates["demo"]):
        with engine.begin() as conn:
            # No open report: the plan's stops are the buildings the test picks.
            conn.execute(text("UPDATE reports SET status = 'closed'"))
        with serve(create_app(settings_for(engine), engine=engine)) as base:
            yield base, engine


def _shots(tmp_path: Path) -> Path:
    where = Path(os.environ.get("GRIDPATROL_SCREENSHOTS") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


def _choices(engine: Engine) -> tuple[str, list[str], list[str]]:
    """A station, one worker per district, and every 8th building of the community that
    straddles the three districts (so joint and by_district differ)."""
    with engine.connect() as conn:
        community = conn.execute(
            text(
                "SELECT c.code FROM communities c JOIN districts d "
                "ON ST_Intersects(c.geom, d.geom) AND NOT ST_Touches(c.geom, d.geom) "
                "GROUP BY c.code HAVING count(*) = 3 ORDER BY c.code LIMIT 1"
            )
        ).scalar_one()
        station = conn.execute(
            text(
                "SELECT f.code FROM facilities f, communities c WHERE c.code = :c "
                "AND f.kind = 'service_station' ORDER BY f.geom <-> ST_Centroid(c.geom) LIMIT 1"
            ),
            {"c": community},
        ).scalar_one()
        workers = (
            conn.execute(
                text(
                    "SELECT DISTINCT ON (left(wg.grid_code, 6)) w.code FROM workers w "
                    "JOIN worker_grids wg ON wg.worker_id = w.id "
                    "ORDER BY left(wg.grid_code, 6), w.code"
                )
            )
            .scalars()
            .all()
        )
        buildings = (
            conn.execute(
                text(
                    "SELECT b.code FROM buildings b JOIN communities c ON c.code = :c "
                    "WHERE ST_Intersects(c.geom, ST_PointOnSurface(b.geom)) ORDER BY b.code"
                ),
                {"c": community},
            )
            .scalars()
            .all()
        )
    return station, list(workers), list(buildings[::8])


def test_a_leader_plans_compares_and_publishes(live: tuple[str, Engine], tmp_path: Path) -> None:
    base, engine = live
    admin = account_headers(engine, "browser-leader", "admin")
    station, workers, buildings = _choices(engine)
    assert len(workers) == 3 and len(buildings) >= 6
    for code in workers:  # each patroller has a worker account: publishing hands it over
        account_headers(engine, f"walker-{code}", "worker", worker=code)
    shots = _shots(tmp_path)
    seen: dict[str, Any] = {}

    def work(page: Page) -> None:
        assert page.url.startswith(f"{base}/app/login")
        page.fill("#username", "browser-leader")
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.click("form.sign-in button[type=submit]")
        assert page.url.startswith(f"{base}/app/patrols")
        page.wait_for_function(
            "() => window.L && document.querySelector('#plan-map.leaflet-container')"
        )
        check_axe(page)
        everyone = page.locator("#workers li").count()
        for ticked, code in enumerate(workers, 1):
            # Found by the filter (the district), ticked; the count of those ticked follows.
            box = f'input[name=workers][value="{code}"]'
            district = page.get_attribute(box, "data-district") or ""
            page.fill("#worker-filter", district)
            shown = page.locator("#workers li:not([hidden])").all_inner_texts()
            assert 0 < len(shown) < everyone and all(district in t for t in shown), shown
            page.check(box)
            assert re.search(rf"\b{ticked}\b", page.inner_text("#workers-ticked"))
        page.fill("#worker-filter", "")
        assert page.locator("#workers li:not([hidden])").count() == everyone
        page.select_option("#station", station)
        page.uncheck("#open_reports")
        page.fill("#buildings", " ".join(buildings))
        page.fill("#time_limit_s", "1")
        page.fill("#name", "三河社区 rounds")
        with page.expect_response(lambda r: "/app/patrols/plan" in r.url) as planned:
            page.click("#plan-button")
            # The request indicator shows while the server plans.
            seen["indicator"] = page.locator("#planning").is_visible()
        seen["plan_status"] = planned.value.status
        page.wait_for_function("() => document.querySelector('#plan-map').dataset.drawn === '2'")
        seen["url"] = page.url
        seen["joint_paths"] = page.locator("path.gp-route.gp-mode-joint").count()
        seen["by_district_paths"] = page.locator("path.gp-route.gp-mode-by_district").count()
        seen["numbers"] = page.locator(".gp-stop-number").count()
        seen["overlays"] = page.locator(".leaflet-control-layers-overlays input").count()
        seen["totals"] = page.locator("#comparison tbody tr").count()
        check_axe(page)
        page.screenshot(path=str(shots / "patrol-leader-joint.png"), full_page=False)
        page.locator(".leader-result").screenshot(path=str(shots / "patrol-leader.png"))
        # The by_district plan is one tick away on the same map.
        page.locator(".leaflet-control-layers-overlays input").nth(1).check()
        seen["both_paths"] = page.locator("path.gp-route").count()
        page.locator(".leaflet-control-layers-overlays input").nth(0).uncheck()
        page.locator(".leader-result").screenshot(path=str(shots / "patrol-leader-by-district.png"))
        seen["plan_ids"] = page.locator("#result").get_attribute("data-plans")
        with page.expect_navigation():
            page.click("#publish-joint")
        seen["notice"] = page.locator("#notice").inner_text()
        seen["published_rows"] = page.locator("section[data-mode=joint] .notice").count()

    report = load_page(f"{base}/app/patrols?lang=en", actions=work, wait_ms=200)
    assert report.blocked == [] and report.failed == [] and report.errors == []
    assert [s for s, _ in report.responses if s >= 400] == []
    assert seen["plan_status"] == 200 and "plan=" in seen["url"]
    assert seen["indicator"]
    joint_id, by_district_id = (int(i) for i in seen["plan_ids"].split(","))
    plans = {
        mode: httpx2.get(f"{base}/patrols/{pid}", headers=admin, timeout=30).json()
        for mode, pid in (("joint", joint_id), ("by_district", by_district_id))
    }
    assert plans["joint"]["mode"] == "joint" and plans["by_district"]["mode"] == "by_district"
    # One path per patroller's route (routes with a walk), per mode; numbered stops of both.
    drawn = {m: sum(1 for r in p["routes"] if r["geometry"]) for m, p in plans.items()}
    assert drawn["joint"] >= 2
    assert seen["joint_paths"] == drawn["joint"] and seen["by_district_paths"] == 0
    assert seen["both_paths"] == drawn["joint"] + drawn["by_district"]
    assert seen["numbers"] == sum(len(r["stops"]) for r in plans["joint"]["routes"])
    assert seen["overlays"] == 2 and seen["totals"] == 3
    assert seen["notice"].startswith(f"Published: {drawn['joint']} route(s)")
    assert seen["published_rows"] == 1
    # Every building chosen is served or listed unserved, in each mode.
    for plan in plans.values():
        refs = [s["ref"] for r in plan["routes"] for s in r["stops"]]
        refs += [s["ref"] for s in plan["unserved"]]
        assert sorted(refs) == sorted(buildings)
    published = httpx2.get(f"{base}/patrols/{joint_id}", headers=admin, timeout=30).json()
    assert published["id"] == joint_id
