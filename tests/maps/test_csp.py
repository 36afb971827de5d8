"""Map pages carry a strict Content-Security-Policy that the page itself satisfies."""

from __future__ import annotations

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from api.main import create_app
from maps.assets import content_security_policy, tile_origin
from tests.browser import load_page
from tests.conftest import settings_for
from tests.maps.conftest import serve

PAGES = ("/maps/grids", "/maps/coverage", "/maps/hotspots")


def _directives(header: str) -> dict[str, list[str]]:
    parts = [d.strip().split() for d in header.split(";") if d.strip()]
    return {words[0]: words[1:] for words in parts}


def test_tile_origin_keeps_only_scheme_and_host() -> None:
    assert tile_origin("https://tile.openstreetmap.org/{z}/{x}/{y}.png") == (
        "https://tile.openstreetmap.org"
    )
    assert tile_origin("https://{s}.tiles.example.cn:8443/{z}/{x}/{y}.png") == (
        "https://*.tiles.example.cn:8443"
    )
    assert tile_origin("") is None
    assert tile_origin("javascript:alert(1)") is None


@pytest.mark.browser
def test_served_pages_send_a_strict_policy_they_satisfy(shared_demo_engine: Engine) -> None:
    tiles = "https://{s}.tiles.example.cn/{z}/{x}/{y}.png"
    settings = settings_for(shared_demo_engine, tile_url=tiles)
    with serve(create_app(settings, engine=shared_demo_engine)) as base:
        for page in PAGES:
            response = httpx2.get(base + page, timeout=120)
            assert response.status_code == 200, page
            policy = _directives(response.headers["content-security-policy"])
            assert policy["default-src"] == ["'none'"]
            assert policy["script-src"][0] == "'self'"
            assert all(s.startswith("'sha256-") for s in policy["script-src"][1:])
            assert "'unsafe-inline'" not in policy["script-src"]
            assert "'unsafe-eval'" not in policy["script-src"]
            assert policy["img-src"] == ["'self'", "data:", "https://*.tiles.example.cn"]
            assert policy["connect-src"] == ["'self'"]
            assert policy["frame-ancestors"] == ["'none'"]
        # Chromium enforces the header: no script refused, every layer drawn, nothing fetched
        # from elsewhere (tile requests are blocked by the harness, not by the page).
        report = load_page(base + "/maps/grids")
        aborted_tiles = "Failed to load resource: net::ERR_FAILED"
        assert [e for e in report.errors if aborted_tiles not in e] == []
        assert report.blocked and all(".tiles.example.cn/" in u for u in report.blocked)
        assert report.counts["paths"] > 100


@pytest.mark.browser
def test_a_script_outside_the_policy_is_refused(shared_demo_engine: Engine) -> None:
    """The check above can fail: a page whose inline script is not hashed is refused."""
    with (
        httpx2.Client(timeout=120) as http,
        serve(create_app(settings_for(shared_demo_engine), engine=shared_demo_engine)) as base,
    ):
        html = http.get(base + "/maps/coverage").text
    policy = content_security_policy(html, tile_url="")
    tampered = html.replace("</body>", "<script>window.injected = 1;</script></body>")
    app = FastAPI()

    @app.get("/page")
    def page() -> HTMLResponse:
        return HTMLResponse(tampered, headers={"Content-Security-Policy": policy})

    with serve(app) as other:
        report = load_page(other + "/page")
    assert any("Content Security Policy" in e for e in report.errors), report.errors
