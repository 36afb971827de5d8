"""The README's screenshots: the grids, coverage, hotspots and patrol maps of the demo city as a
dispatcher opens them from a running server, written to docs/screenshots/ by this test.

Each page must render offline with no error, its legend and what the README says it shows;
the PNGs are committed, so a change that breaks how a map reads shows in review.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from api.main import create_app
from data import DEMO_DIR
from gis.patrols.request import PlanRequest
from gis.patrols.service import create_patrol_plan
from tests import conftest
from tests.accounts import PASSWORD, account_headers
from tests.browser import load_page, sign_in_cookie
from tests.conftest import CATEGORIES, fresh_database, settings_for
from tests.maps.conftest import serve

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
EXAMPLE_REQUEST = DEMO_DIR.parent / "examples" / "request.json"
VIEWPORT = (1100, 720)
# 三河社区 (the community lying in all three districts), close enough for grid names.
JUNCTION = "104.0562,30.6580,104.0691,30.6659"


@pytest.fixture(scope="module")
def site(
    pg_server: conftest.TestServer, templates: dict[str, str]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """A server on a demo database of this module's own, with the README's example plan
    (data/examples/request.json, from now on) stored."""
    for engine in fresh_database(pg_server, templates["demo"]):
        request = PlanRequest.model_validate(json.loads(EXAMPLE_REQUEST.read_text()))
        plan = create_patrol_plan(engine, request, categories=CATEGORIES)
        account_headers(engine, "shot-admin", "admin")
        with serve(create_app(settings_for(engine), engine=engine)) as base:
            yield base, plan.model_dump(mode="json")


def _shoot(url: str, name: str, **options: Any) -> Any:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    report = load_page(url, screenshot=path, viewport=VIEWPORT, wait_until="networkidle", **options)
    assert report.errors == [] and report.blocked == [], (report.errors, report.blocked)
    assert report.counts["legend"] >= 1
    with Image.open(path) as image:
        assert image.size == VIEWPORT
        # Not a blank page: a map has many colours.
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 200
    return report


def test_grids_screenshot_names_grids_and_explains_report_dots(
    site: tuple[str, dict[str, Any]],
) -> None:
    base, _plan = site
    report = _shoot(
        f"{base}/maps/grids?bbox={JUNCTION}",
        "grids",
        count={
            "named": "text.gp-label:has-text('网格')",
            "report_legend": ".gp-legend :text('诉求 report')",
        },
    )
    assert report.counts["named"] >= 3
    assert report.counts["report_legend"] >= 1


def test_coverage_screenshot(site: tuple[str, dict[str, Any]]) -> None:
    base, _plan = site
    _shoot(f"{base}/maps/coverage", "coverage")


def test_hotspots_screenshot(site: tuple[str, dict[str, Any]]) -> None:
    base, _plan = site
    _shoot(f"{base}/maps/hotspots?category=sanitation,waste_sorting", "hotspots")


def test_patrol_screenshot_says_what_the_plan_achieved(site: tuple[str, dict[str, Any]]) -> None:
    base, plan = site
    cookie = sign_in_cookie(base, "shot-admin", PASSWORD)
    report = _shoot(
        f"{base}/maps/patrols?id={plan['id']}",
        "patrols",
        cookies=[cookie],
        count={"achieved": ".gp-achieved:has-text('served')"},
    )
    assert report.counts["achieved"] == 1
