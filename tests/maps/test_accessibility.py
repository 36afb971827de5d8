"""The accessibility check the browser tests run (axe-core from npm, put into the page by the
test): it finds what it should under the pages' strict policy, and the app never serves it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Route, sync_playwright
from sqlalchemy import Engine

from api.main import create_app
from api.pages.render import PAGE_POLICY
from tests.browser import CHROMIUM_FLAGS, axe_violations, check_axe, chromium_path
from tests.conftest import settings_for

pytestmark = pytest.mark.browser

# An image without a text, a field without a label, a button without a name, no language.
_BAD_PAGE = """<!doctype html><html><head><title>bad</title></head><body><main>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<input type="text" id="x"><button></button></main></body></html>"""
_GOOD_PAGE = """<!doctype html><html lang="en"><head><title>good</title></head><body><main>
<h1>Report</h1><label for="x">Description</label><input type="text" id="x">
<button type="submit">Send</button></main></body></html>"""


def _violations(html: str, *, exclude: tuple[str, ...] = ()) -> tuple[list[str], str | None]:
    """axe's lines for ``html`` served under the pages' policy, and the check's failure."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()

            def fulfil(route: Route) -> None:
                route.fulfill(
                    body=html,
                    content_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": PAGE_POLICY},
                )

            page.route("http://127.0.0.1:9/page", fulfil)
            page.goto("http://127.0.0.1:9/page")
            found = axe_violations(page, exclude=exclude)
            try:
                check_axe(page, exclude=exclude)
            except AssertionError as failure:
                return found, str(failure)
            return found, None
        finally:
            browser.close()


def test_check_axe_fails_naming_rule_help_and_target_under_the_strict_policy() -> None:
    found, failure = _violations(_BAD_PAGE)
    rules = {line.split(":")[0] for line in found}
    assert {
        "critical image-alt",
        "critical label",
        "critical button-name",
        "serious html-has-lang",
    } <= rules
    assert failure is not None
    assert "image-alt: Images must have alternative text" in failure and "img" in failure
    assert "label" in failure and "#x" in failure


def test_check_axe_passes_a_clean_page_and_leaves_excluded_elements_out() -> None:
    assert _violations(_GOOD_PAGE) == ([], None)
    found, _ = _violations(_BAD_PAGE, exclude=("img",))
    assert not any("image-alt" in line for line in found)
    assert any("button-name" in line for line in found)


def test_the_app_does_not_serve_the_test_only_checker(shared_demo_engine: Engine) -> None:
    app = create_app(settings_for(shared_demo_engine), engine=shared_demo_engine)
    with TestClient(app) as client:
        assert client.get("/static/vendor/leaflet/dist/leaflet.js").status_code == 200
        for path in (
            "/static/vendor/axe-core/axe.min.js",
            "/static/vendor/axe-core/axe.js",
            "/static/vendor/leaflet/../axe-core/axe.min.js",
        ):
            assert client.get(path).status_code == 404, path
