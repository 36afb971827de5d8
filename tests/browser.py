"""Loading a page in headless Chromium (Debian's) with the network off, as a person would.

Every request that is not to this machine (or a data:/file: URL) is aborted and recorded;
JavaScript errors and console errors are collected; Leaflet's drawn layers are counted, and
so are the features gridpatrol's vector layers drew from tiles (``maps/vector.js`` stats).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import httpx2
from playwright._impl._api_structures import SetCookieParam
from playwright.sync_api import Page, sync_playwright

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
_COUNT_LAYERS = """() => ({
  paths: document.querySelectorAll('.leaflet-overlay-pane path').length,
  canvases: document.querySelectorAll(
    '.leaflet-overlay-pane canvas, canvas.leaflet-heatmap-layer').length,
  markers: document.querySelectorAll('.leaflet-marker-pane > *').length,
  tooltips: document.querySelectorAll('.leaflet-tooltip').length,
  controls: document.querySelectorAll('.leaflet-control-layers').length,
  legend: document.querySelectorAll('.gp-legend').length,
  leaflet: typeof window.L !== 'undefined',
})"""


@dataclass
class PageReport:
    """What Chromium saw."""

    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    # Per vector layer: tiles loaded, features and labels drawn (maps/vector.js).
    vector: dict[str, dict[str, int]] = field(default_factory=dict)
    # Texts of the tooltips open at the end (after ``actions``).
    tooltips: list[str] = field(default_factory=list)
    responses: list[tuple[int, str]] = field(default_factory=list)
    # Requests that failed other than by the harness blocking them (refused by the page's
    # policy, a connection error), as "url: why".
    failed: list[str] = field(default_factory=list)
    # The page's title and address at the end (after ``actions``: a redirect, a sign-in).
    title: str = ""
    url: str = ""
    # Serious and critical axe-core violations at the end (``load_page(axe=True)``).
    axe: list[str] = field(default_factory=list)


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError("Chromium is not installed: run scripts/setup.sh --test")
    return path


def _is_local(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("data", "file", "about", "blob") or parsed.hostname in (
        "127.0.0.1",
        "localhost",
        "testserver",
    )


def load_page(
    url: str,
    *,
    screenshot: Path | None = None,
    wait_ms: int = 800,
    count: dict[str, str] | None = None,
    wait_until: Literal["load", "networkidle"] = "load",
    actions: Callable[[Page], Any] | None = None,
    cookies: Sequence[SetCookieParam] = (),
    viewport: tuple[int, int] = (1280, 860),
    wait_for: str | None = None,
    axe: bool = False,
    axe_exclude: Sequence[str] = (),
) -> PageReport:
    """Open ``url`` (http://127.0.0.1… or file://…) offline; report errors and layer counts.

    ``count`` adds named CSS selectors whose matches are counted too; ``networkidle`` waits
    until no request (tiles) has been in flight for half a second; ``cookies`` are set first (a
    signed-in browser, see ``sign_in_cookie``); ``wait_for`` is a JavaScript expression the
    page must make true first (up to 30 s: on a loaded machine tiles draw late, and a fixed
    pause then counts too early); ``actions`` then drive the page (zoom, hover) before the
    counting; ``axe`` then runs axe-core on the page (``axe_violations``).
    """
    report = PageReport()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            width, height = viewport
            context = browser.new_context(viewport={"width": width, "height": height})
            context.add_cookies(list(cookies))
            page = context.new_page()
            page.on("pageerror", lambda exc: report.errors.append(f"pageerror: {exc}"))
            page.on(
                "console",
                lambda msg: (
                    report.errors.append(f"console: {msg.text}") if msg.type == "error" else None
                ),
            )

            def route(route_obj, request) -> None:  # type: ignore[no-untyped-def]
                if _is_local(request.url):
                    route_obj.continue_()
                else:
                    report.blocked.append(request.url)
                    route_obj.abort()

            page.route("**/*", route)
            page.on("response", lambda r: report.responses.append((r.status, r.url)))
            page.on(
                "requestfailed",
                lambda r: (
                    None
                    if r.url in report.blocked
                    else report.failed.append(f"{r.url}: {r.failure}")
                ),
            )
            page.goto(url, wait_until=wait_until)
            page.wait_for_timeout(wait_ms)
            if wait_for is not None:
                page.wait_for_function(wait_for, timeout=30_000)
            if actions is not None:
                actions(page)
            report.title = page.title()
            report.url = page.url
            report.counts = page.evaluate(_COUNT_LAYERS)
            report.vector = page.evaluate(
                "() => window.gridpatrolVector ? window.gridpatrolVector.stats : {}"
            )
            report.tooltips = page.locator(".leaflet-tooltip").all_inner_texts()
            for name, selector in (count or {}).items():
                report.counts[name] = page.locator(selector).count()
            if axe:
                report.axe = axe_violations(page, exclude=axe_exclude)
            if screenshot is not None:
                page.screenshot(path=str(screenshot))
        finally:
            browser.close()
    return report


# Test-only: the axe-core accessibility engine, installed from npm with the map assets but
# never served (maps/assets.py: TEST_ONLY_PACKAGES); the tests put it into the page.
AXE_JS = Path(__file__).resolve().parents[1] / "maps" / "node_modules" / "axe-core" / "axe.min.js"
# Impacts that fail a page; "moderate" and "minor" ones are advice.
AXE_FAILING = ("serious", "critical")
_AXE_RUN = """async (exclude) => {
  const context = exclude.length ? {include: [document], exclude: exclude.map(s => [s])}
                                 : document;
  const results = await axe.run(context, {resultTypes: ['violations']});
  return results.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map(n => n.target.join(' ')),
  }));
}"""


def axe_violations(page: Page, *, exclude: Sequence[str] = ()) -> list[str]:
    """The page's serious and critical axe-core violations, one line each: rule id, help and
    the nodes' CSS targets; ``exclude`` leaves out elements by CSS selector (a third-party
    widget's internals, each excluded with the reason where it is called).

    The pages' policy allows no inline script and no eval, so axe is neither added as a
    ``<script>`` (refused) nor evaluated as an expression (Playwright eval()s those): it is
    compiled through the DevTools protocol, which the page's policy does not govern.
    """
    if not AXE_JS.exists():
        raise RuntimeError(f"{AXE_JS} is missing: run scripts/setup.sh (npm ci in maps/)")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        session = page.context.new_cdp_session(page)
        try:
            loaded = session.send(
                "Runtime.evaluate", {"expression": AXE_JS.read_text(), "returnByValue": True}
            )
        finally:
            session.detach()
        if "exceptionDetails" in loaded:
            raise RuntimeError(f"axe-core did not load: {loaded['exceptionDetails']}")
    found: list[dict[str, Any]] = page.evaluate(_AXE_RUN, list(exclude))
    return [
        f"{v['impact']} {v['id']}: {v['help']} — {', '.join(v['targets'])}"
        for v in found
        if v["impact"] in AXE_FAILING
    ]


def check_axe(page: Page, *, exclude: Sequence[str] = ()) -> None:
    """Fail on any serious or critical axe-core violation of the page as it is now."""
    violations = axe_violations(page, exclude=exclude)
    assert violations == [], f"axe-core on {page.url}:\n" + "\n".join(violations)


def sign_in_cookie(base_url: str, name: str, password: str) -> SetCookieParam:
    """Sign in as a browser would (``POST /auth/token``) and return the session cookie the
    server set, for ``load_page(cookies=...)``."""
    response = httpx2.post(
        f"{base_url}/auth/token", data={"username": name, "password": password}, timeout=30
    )
    assert response.status_code == 200, response.text
    (cookie,) = response.cookies.jar
    assert cookie.value is not None
    return {"name": cookie.name, "value": cookie.value, "url": f"{base_url}{cookie.path}"}
