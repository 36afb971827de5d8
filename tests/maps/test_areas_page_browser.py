"""Acceptance, the life circle page in Chromium against a real server on PostGIS: a signed-in
analyst opens ``/app/areas``, sees the map drawn (the grids' and districts' vector tiles, the
walk areas and the buildings beyond the limit fetched for the view), the gaps table; a row's
button zooms the map to its community; a siting among a few typed-in points runs (htmx) and its
sites appear on the map, numbered. Nothing is loaded from outside the server and no script
error is thrown; axe-core finds no serious violation, before and after the siting.

The screenshot of the README's "Life circle page" is made here: set
``GRIDPATROL_SCREENSHOTS=docs/screenshots`` to write it there (else a temporary directory).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.sync_api import Page
from sqlalchemy import Engine

from api.main import create_app
from tests.accounts import PASSWORD, account_headers
from tests.browser import check_axe, load_page, sign_in_cookie
from tests.conftest import settings_for
from tests.maps.conftest import serve

pytestmark = pytest.mark.browser

LOADED = "() => document.getElementById('map').dataset.loaded === 'true'"


@pytest.fixture(scope="module")
def site(pg_server: Any, templates: dict[str, str]) -> Iterator[tuple[str, Engine, dict[str, str]]]:
    from tests.conftest import fresh_database

    for engine in fresh_database(pg_server, templates["demo"]):
        bearer = account_headers(engine, "lc-browser-analyst", "analyst")
        with serve(create_app(settings_for(engine), engine=engine)) as base:
            yield base, engine, bearer


def _shots(tmp_path: Path) -> Path:
    where = Path(os.environ.get("GRIDPATROL_SCREENSHOTS") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


def test_an_analyst_sees_the_gaps_and_sites_new_stations(
    site: tuple[str, Engine, dict[str, str]], tmp_path: Path
) -> None:
    base, _engine, bearer = site
    shots = _shots(tmp_path)
    # Three candidates: the three farthest buildings beyond the limit.
    gaps = httpx2.get(
        f"{base}/service-areas/gaps", params={"limit": 3}, headers=bearer, timeout=120
    ).json()
    typed = "\n".join(f"{g['lon']},{g['lat']},near {g['code']}" for g in gaps["gaps"])
    cookie = sign_in_cookie(base, "lc-browser-analyst", PASSWORD)
    seen: dict[str, Any] = {}

    def count(page: Page, selector: str) -> int:
        return page.locator(selector).count()

    def work(page: Page) -> None:
        seen["areas"] = count(page, ".leaflet-overlay-pane path.gp-area")
        seen["gaps"] = count(page, ".leaflet-overlay-pane path.gp-gap")
        page.wait_for_function(
            "() => document.querySelectorAll('.leaflet-tile-container svg path').length > 0",
            timeout=30_000,
        )
        seen["tile_paths"] = count(page, ".leaflet-tile-container svg path")
        seen["rows"] = count(page, "#gaps-table tbody tr")
        seen["status"] = page.locator("#map-status").inner_text()
        check_axe(page)
        page.fill("#new_sites", "2")
        page.check("input[name=candidates][value=points]")
        page.fill("#points", typed)
        with page.expect_response(lambda r: "/app/areas/siting" in r.url) as answered:
            page.click("#siting-run")
        seen["siting"] = answered.value.status
        page.wait_for_selector("#siting-sites", state="attached", timeout=30_000)
        page.wait_for_function(
            "() => document.querySelectorAll('path.gp-site').length > 0", timeout=15_000
        )
        seen["sites"] = count(page, ".leaflet-overlay-pane path.gp-site")
        seen["site_rows"] = count(page, "#sites-table tbody tr")
        seen["after"] = page.locator("#covered-after").inner_text()
        seen["mip"] = page.locator("#mip-status").inner_text()
        check_axe(page)
        page.screenshot(path=str(shots / "life-circle.png"), full_page=True)
        zoom = int(page.locator("#map").get_attribute("data-zoom") or 0)
        # The first row's button (by keyboard) zooms the map to its community.
        button = page.locator("#gaps-table tbody tr button.zoom").first
        button.focus()
        page.keyboard.press("Enter")
        page.wait_for_function(
            f"() => Number(document.getElementById('map').dataset.zoom) > {zoom}",
            timeout=15_000,
        )
        seen["zoomed"] = True

    report = load_page(
        f"{base}/app/areas?lang=en",
        cookies=[cookie],
        wait_for=LOADED,
        actions=work,
        wait_ms=300,
        viewport=(1400, 1000),
    )
    assert report.blocked == [] and report.failed == [] and report.errors == []
    assert [s for s, _ in report.responses if s >= 400] == []
    assert report.title.startswith("Life circle")
    assert seen["areas"] > 0 and seen["gaps"] > 0 and seen["tile_paths"] > 0
    assert seen["rows"] > 0 and seen["zoomed"]
    assert seen["status"].startswith("Walk areas shown:")
    assert seen["siting"] == 200
    assert 1 <= seen["sites"] == seen["site_rows"] <= 2
    assert "optimal" in seen["mip"]
    # Areas, gaps and tiles came from the server by view (bbox), the page itself inlines none.
    asked = [url for _, url in report.responses]
    assert any("/service-areas?" in u and "bbox=" in u for u in asked)
    assert any("/service-areas/gaps?" in u and "bbox=" in u for u in asked)
    assert any(u.endswith(".mvt") and "/tiles/districts/" in u for u in asked)
