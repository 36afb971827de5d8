"""Acceptance, the dispatch desk in Chromium against a real ``gridpatrol serve`` on PostGIS: a
dispatcher signs in by the form, sees the queue (overdue first), accepts a report and
dispatches it to a worker picked from the grid's, and the events show both; nothing is loaded
from outside the server and no script error is thrown. A worker opening the desk gets a 403
page. The screenshot is the README's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page
from sqlalchemy import Engine, text

from tests.accounts import PASSWORD, account_headers
from tests.browser import check_axe, load_page
from tests.endpoints import INLAND
from tests.live import serve_process, server_env

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "dispatch-desk.png"


@pytest.fixture(scope="module")
def live(pg_server: Any, templates: dict[str, str], tmp_path_factory: Any) -> Iterator[Any]:
    from tests.conftest import fresh_database

    for engine in fresh_database(pg_server, templates["demo"]):
        log = tmp_path_factory.mktemp("desk") / "serve.log"
        with serve_process(server_env(engine), log) as base:
            yield engine, base


def _new_report(engine: Engine, base: str) -> int:
    import httpx2

    body = {"category": "sanitation", "description": "desk: bins overflowing", **INLAND}
    created = httpx2.post(f"{base}/reports", json=body, timeout=30)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def _settle(page: Page) -> None:
    """Let the map's tile requests finish before leaving the page: a navigation aborts the
    ones still in flight, which the page report would count as failed requests."""
    page.wait_for_load_state("networkidle")


def _sign_in(page: Page, name: str) -> None:
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("form.sign-in button[type=submit]")


def test_a_dispatcher_accepts_and_dispatches_from_the_desk(live: Any) -> None:
    engine, base = live
    report_id = _new_report(engine, base)
    with engine.begin() as conn:
        district, grid = conn.execute(
            text("SELECT district_code, grid_code FROM reports WHERE id = :id"), {"id": report_id}
        ).one()
        worker_id, worker_name = conn.execute(
            text(
                "SELECT w.id, w.name FROM workers w JOIN worker_grids wg ON wg.worker_id = w.id "
                "WHERE wg.grid_code = :g ORDER BY w.id DESC LIMIT 1"
            ),
            {"g": grid},
        ).one()
    account_headers(engine, "browser-dispatcher", "dispatcher", scope=district)
    seen: dict[str, Any] = {}

    def work(page: Page) -> None:
        assert page.url.startswith(f"{base}/app/login")
        check_axe(page)
        _sign_in(page, "browser-dispatcher")
        assert page.url.startswith(f"{base}/app/dispatch")
        seen["overdue"] = page.locator("#queue tbody tr").evaluate_all(
            "rows => rows.map(r => r.classList.contains('overdue'))"
        )
        # The map beside the queue: a marker per located report of the page, red if overdue.
        page.wait_for_function("() => document.getElementById('desk-map').dataset.markers")
        located = page.locator("#queue tbody tr[data-lat]").count()
        seen["markers"] = (page.get_attribute("#desk-map", "data-markers"), str(located))
        fills = page.locator("#desk-map path.leaflet-interactive").evaluate_all(
            "paths => paths.map(p => p.getAttribute('fill'))"
        )
        seen["red"] = (fills.count("#c0392b"), sum(seen["overdue"]))
        # A marker opens its report as the row's link does.
        _settle(page)
        with page.expect_navigation():
            page.locator("#desk-map path.leaflet-interactive").first.click(force=True)
        seen["from_map"] = page.locator("#report-title").inner_text()
        _settle(page)
        page.go_back()
        # The queue's first report opens beside it; the new one (not on the first page among
        # the demo city's overdue ones) by its link.
        _settle(page)
        with page.expect_navigation():
            page.click("#queue tbody tr:first-child a")
        seen["opened"] = page.locator("#report-title").inner_text()
        check_axe(page)
        _settle(page)
        page.goto(f"{base}/app/dispatch?report={report_id}&lang=en")
        # Not on the queue's first page: drawn on the map all the same, larger.
        page.wait_for_function("() => document.getElementById('desk-map').dataset.markers")
        seen["own"] = (
            page.get_attribute("#desk-map", "data-markers"),
            page.locator("#queue tbody tr[data-lat]").count(),
            page.locator(f'#queue tr[data-report="{report_id}"]').count(),
        )
        _settle(page)
        with page.expect_navigation():
            page.click('form[data-action="accept"] button')
        page.select_option("select[name=worker_id]", str(worker_id))
        _settle(page)
        with page.expect_navigation():
            page.click('form[data-action="dispatch"] button')
        seen["events"] = page.locator("#events li").evaluate_all(
            "items => items.map(i => i.dataset.action)"
        )
        seen["worker"] = page.locator("#report-worker").inner_text()
        # The queue refreshes by itself (htmx polling its fragment): force one poll now.
        with page.expect_response(lambda r: "/app/dispatch/queue" in r.url) as polled:
            page.evaluate(
                "htmx.ajax('GET', document.querySelector('#queue').getAttribute('hx-get'), "
                "{target: '#queue', swap: 'outerHTML'})"
            )
        seen["poll"] = polled.value.status
        page.evaluate("() => window.scrollTo(0, 0)")  # the screenshot: the queue beside its map

    SCREENSHOT.parent.mkdir(exist_ok=True)
    report = load_page(
        f"{base}/app/dispatch?lang=en", actions=work, screenshot=SCREENSHOT, wait_ms=300, axe=True
    )
    assert report.blocked == [] and report.failed == [] and report.errors == []
    assert report.axe == []
    assert [s for s, _ in report.responses if s >= 400] == []
    # Overdue first: no overdue row below one that is not.
    assert seen["overdue"] and seen["overdue"] == sorted(seen["overdue"], reverse=True)
    assert seen["opened"].startswith("Report ")
    assert seen["markers"][0] == seen["markers"][1] != "0"
    assert seen["red"][0] == seen["red"][1]
    assert seen["from_map"].startswith("Report ")
    markers, rows, listed = seen["own"]
    assert int(markers) == rows + (1 - listed)
    assert seen["events"][-2:] == ["accept", "dispatch"]
    assert seen["worker"] == worker_name
    assert seen["poll"] == 200
    with engine.connect() as conn:
        status, assigned = conn.execute(
            text("SELECT status, worker_id FROM reports WHERE id = :id"), {"id": report_id}
        ).one()
    assert (status, assigned) == ("dispatched", worker_id)


def test_a_worker_opening_the_desk_gets_a_403_page(live: Any) -> None:
    engine, base = live
    with engine.connect() as conn:
        district = conn.execute(text("SELECT min(code) FROM districts")).scalar_one()
    account_headers(engine, "browser-worker", "worker", scope=district)

    def sign_in(page: Page) -> None:
        _sign_in(page, "browser-worker")

    report = load_page(f"{base}/app/dispatch", actions=sign_in, wait_ms=200, axe=True)
    assert report.axe == []
    # Chromium asks for en-US: the page answers in English.
    assert report.title.startswith("Not allowed")
    assert (403, f"{base}/app/dispatch") in report.responses
    assert report.blocked == [] and report.failed == []
    # Chromium reports the page's own 403 status on the console; nothing else.
    assert all("403" in error for error in report.errors), report.errors
