"""Acceptance, intranet: every HTML page of the app opens in Chromium with everything outside
the server blocked — it renders, has a title, no request fails, no script error is thrown and
axe-core finds no serious or critical accessibility violation —
and a browser opening a page that needs an account signs in (by keyboard) and comes back.

The pages are found by walking the app's routes (``/docs``, ``/redoc``, every ``/maps/…``,
``/app/…``): a route answering ``text/html`` is a page, so a new one is opened here too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from playwright.sync_api import Page
from sqlalchemy import Engine, text
from starlette.routing import Mount

from api.main import create_app
from gis.reports.followup import issue_followup
from tests.accounts import PASSWORD, account_headers
from tests.browser import PageReport, load_page, sign_in_cookie
from tests.conftest import settings_for
from tests.endpoints import LAYER_VALUES, PATROL_PLAN, SAMPLE_CALLS, SAMPLE_PHOTO
from tests.maps.conftest import serve

pytestmark = pytest.mark.browser

# The pages there are today; the walk must find at least these (and opens any other).
KNOWN_PAGES = {
    "/docs",
    "/redoc",
    "/app/login",
    "/maps/grids",
    "/maps/coverage",
    "/maps/hotspots",
    "/maps/patrols",
    "/app/report",
    "/app/follow/{token}",
    "/app/patrols",
    "/app/areas",
}


# Elements left out of the accessibility check, per page, each with the reason.
AXE_EXCLUDE: dict[str, tuple[str, ...]] = {
    # Swagger UI's own widgets (from npm, its markup and colours are not ours): its operation
    # headers nest buttons inside a button, and its method badges, version stamp, URL and
    # schema "expand all" buttons are white or grey on light colours. The page around them
    # (language, title) is checked.
    "/docs": (
        ".swagger-ui .opblock-summary-control",
        ".swagger-ui .version-stamp",
        ".swagger-ui .info small pre",
        ".swagger-ui .info .url",
        ".swagger-ui .btn",
        ".swagger-ui .json-schema-2020-12-expand-deep-button",
    ),
}


@dataclass
class Site:
    base: str
    app: FastAPI
    # What fills the sample calls' paths and parameters (tests/endpoints.py).
    values: dict[str, Any]


@pytest.fixture(scope="module")
def site(pg_server: Any, templates: dict[str, str]) -> Iterator[Site]:
    from tests.conftest import fresh_database

    for engine in fresh_database(pg_server, templates["demo"]):
        yield from _site(engine)


def _site(engine: Engine) -> Iterator[Site]:
    admin = account_headers(engine, "page-admin", "admin")
    with engine.connect() as conn:
        report_id, category, code = conn.execute(
            text("SELECT id, category, grid_code FROM reports WHERE grid_code IS NOT NULL LIMIT 1")
        ).one()
        token = issue_followup(conn, int(report_id))
        household = conn.execute(text("SELECT min(code) FROM households")).scalar_one()
        conn.commit()
    app = create_app(settings_for(engine), engine=engine)
    with serve(app) as base:
        planned = httpx2.post(f"{base}/patrols/plan", json=PATROL_PLAN, headers=admin, timeout=120)
        assert planned.status_code == 201, planned.text
        photographed = httpx2.post(
            f"{base}/reports/{report_id}/photos", files=[SAMPLE_PHOTO], headers=admin, timeout=60
        )
        assert photographed.status_code == 201, photographed.text
        values = LAYER_VALUES | {
            "plan_id": planned.json()["id"],
            "report_id": report_id,
            "service_request_id": report_id,
            "service_code": category,
            "code": code,
            "feature_id": code,
            "token": token,
            "household": household,
            "photo_id": photographed.json()[0]["id"],
        }
        yield Site(base, app, values)


def _sample_url(site: Site, path: str) -> str:
    call = SAMPLE_CALLS.get(("GET", path))
    if call is None:  # not an API operation: the documentation and the OpenAPI document
        return site.base + path
    _method, url, kwargs = call.request(site.values)
    params = kwargs["params"]
    return site.base + url + (f"?{urlencode(params)}" if params else "")


def html_pages(site: Site, cookie: dict[str, str]) -> dict[str, str]:
    """Path → URL of every GET route of the app that answers a page (text/html)."""
    pages = {}
    with httpx2.Client(timeout=120, cookies=cookie) as http:
        for context in iter_route_contexts(site.app.routes):
            route, path = context.original_route, context.path
            methods = getattr(route, "methods", None) or ()
            if isinstance(route, Mount) or path is None or "GET" not in methods:
                continue
            url = _sample_url(site, path)
            answer = http.get(url, headers={"Accept": "text/html"})
            assert answer.status_code == 200, (url, answer.text[:300])
            # A page is a whole document; an htmx fragment (the polled dispatch queue) is a
            # part of one, opened with its page.
            document = "<html" in answer.text[:1000].lower()
            if answer.headers["content-type"].startswith("text/html") and document:
                pages[path] = url
    return pages


def _clean(report: PageReport) -> list[str]:
    problems = [f"blocked {u}" for u in report.blocked] + [f"failed {f}" for f in report.failed]
    problems += [f"{status} {url}" for status, url in report.responses if status >= 400]
    return problems + report.errors


def test_every_page_renders_offline_with_a_title_and_no_error(site: Site) -> None:
    cookie = sign_in_cookie(site.base, "page-admin", PASSWORD)
    pages = html_pages(site, {cookie["name"]: cookie["value"]})
    assert set(pages) >= KNOWN_PAGES, sorted(KNOWN_PAGES - set(pages))
    wrong = {}
    for path, url in sorted(pages.items()):
        report = load_page(
            url,
            cookies=[cookie],
            wait_until="networkidle",
            wait_ms=1500,
            axe=True,
            axe_exclude=AXE_EXCLUDE.get(path, ()),
        )
        problems = _clean(report) + report.axe
        if not report.title.strip() or report.title.strip() in ("gridpatrol", "网格巡查"):
            problems.append(f"no title saying what it shows: {report.title!r}")
        if urlsplit(report.url).path != urlsplit(url).path:
            problems.append(f"ended on {report.url}")
        if problems:
            wrong[path] = problems
    assert wrong == {}


def test_an_anonymous_map_page_lands_on_sign_in_and_comes_back(site: Site) -> None:
    plan_id = site.values["plan_id"]
    target = f"/maps/patrols?id={plan_id}"
    landed: list[str] = []

    def sign_in_by_keyboard(page: Page) -> None:
        landed.append(page.url)
        # From the top of the page, Tab reaches the account name, then the password, then
        # the button; Enter sends the form.
        for _ in range(12):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "username":
                break
        assert page.evaluate("document.activeElement.id") == "username"
        # Chromium asks for en-US: the page answers in English, its fields labelled.
        assert page.get_by_label("Account name").evaluate("e => e === document.activeElement")
        page.keyboard.type("page-admin")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "password"
        page.keyboard.type(PASSWORD)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(1000)

    report = load_page(site.base + target, actions=sign_in_by_keyboard)
    login = urlsplit(landed[0])
    assert login.path == "/app/login" and "next=%2Fmaps%2Fpatrols" in login.query
    assert report.url == site.base + target
    assert report.title.startswith(f"Patrol plan {plan_id}")
    assert report.counts["paths"] > 0  # the routes drawn
    assert _clean(report) == []
