"""Offline map assets: every script and stylesheet a Folium page needs, without a CDN.

Folium writes CDN URLs into its pages. Government intranets (and this build machine) have no
internet, so gridpatrol installs the same libraries from the npm registry at set-up
(``maps/package.json``, locked in ``package-lock.json``, into ``maps/node_modules``), plus
Folium's own plugin scripts from its Python package, and rewrites each page:

- ``served``: URLs point at ``/static/…``, which the API serves from those directories;
- ``standalone``: scripts and stylesheets are inlined (fonts and images as data URIs), so a
  written ``.html`` file opens anywhere.

A page referencing a URL this table does not know is refused rather than shipped half-online.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import re
import subprocess
import sys
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import folium

from gis.core.errors import Unavailable

MAPS_DIR = Path(__file__).parent
VENDOR_DIR = MAPS_DIR / "node_modules"
FOLIUM_DIR = Path(folium.__file__).parent / "templates"
STAMP = VENDOR_DIR / ".gridpatrol-installed"
ROOTS = {"vendor": VENDOR_DIR, "folium": FOLIUM_DIR}

_CDNJS = "https://cdnjs.cloudflare.com/ajax/libs"
_JSDELIVR = "https://cdn.jsdelivr.net"

# URL as Folium writes it -> local "root/path", or None for assets our maps do not use.
ASSET_FILES: dict[str, str | None] = {
    f"{_JSDELIVR}/npm/leaflet@1.9.3/dist/leaflet.js": "vendor/leaflet/dist/leaflet.js",
    f"{_JSDELIVR}/npm/leaflet@1.9.3/dist/leaflet.css": "vendor/leaflet/dist/leaflet.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "vendor/jquery/dist/jquery.min.js",
    f"{_CDNJS}/jquery/3.7.1/jquery.min.js": "vendor/jquery/dist/jquery.min.js",
    f"{_JSDELIVR}/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": (
        "vendor/bootstrap/dist/js/bootstrap.bundle.min.js"
    ),
    f"{_JSDELIVR}/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css": (
        "vendor/bootstrap/dist/css/bootstrap.min.css"
    ),
    f"{_CDNJS}/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js": (
        "vendor/leaflet.awesome-markers/dist/leaflet.awesome-markers.js"
    ),
    f"{_CDNJS}/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css": (
        "vendor/leaflet.awesome-markers/dist/leaflet.awesome-markers.css"
    ),
    f"{_JSDELIVR}/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": (
        "vendor/@fortawesome/fontawesome-free/css/all.min.css"
    ),
    # Bootstrap 3 glyphicons and rotated awesome-markers: our maps use neither.
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css": None,
    f"{_JSDELIVR}/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css": (
        None
    ),
    f"{_JSDELIVR}/gh/python-visualization/folium@main/folium/templates/leaflet_heat.min.js": (
        "folium/leaflet_heat.min.js"
    ),
    f"{_CDNJS}/leaflet.markercluster/1.1.0/leaflet.markercluster.js": (
        "vendor/leaflet.markercluster/dist/leaflet.markercluster.js"
    ),
    f"{_CDNJS}/leaflet.markercluster/1.1.0/MarkerCluster.css": (
        "vendor/leaflet.markercluster/dist/MarkerCluster.css"
    ),
    f"{_CDNJS}/leaflet.markercluster/1.1.0/MarkerCluster.Default.css": (
        "vendor/leaflet.markercluster/dist/MarkerCluster.Default.css"
    ),
    # Vector tiles (and GeoJSON sliced into tiles) on Leaflet: maps/vector.py.
    f"{_JSDELIVR}/npm/leaflet.vectorgrid@1.3.0/dist/Leaflet.VectorGrid.bundled.min.js": (
        "vendor/leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js"
    ),
    f"{_JSDELIVR}/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js": (
        "vendor/leaflet.fullscreen/Control.FullScreen.js"
    ),
    f"{_JSDELIVR}/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css": (
        "vendor/leaflet.fullscreen/Control.FullScreen.css"
    ),
    # Route direction arrows on the patrol map (maps/patrols.py).
    f"{_JSDELIVR}/npm/leaflet-polylinedecorator@1.6.0/dist/leaflet.polylineDecorator.js": (
        "vendor/leaflet-polylinedecorator/dist/leaflet.polylineDecorator.js"
    ),
}

# Pages other than maps (served by the API, ``api/pages``): the API documentation and the
# htmx of the server-rendered pages, from the same npm install.
PAGE_ASSETS: dict[str, str] = {
    "swagger_js": "vendor/swagger-ui-dist/swagger-ui-bundle.js",
    "swagger_css": "vendor/swagger-ui-dist/swagger-ui.css",
    "redoc_js": "vendor/redoc/bundles/redoc.standalone.js",
    "htmx_js": "vendor/htmx.org/dist/htmx.min.js",
}

# npm packages installed with the assets for the tests only (the accessibility checker the
# browser tests put into each page): never served to a browser.
TEST_ONLY_PACKAGES = frozenset({"axe-core"})

_SCRIPT = re.compile(r'<script src="(https?://[^"]+)"></script>')
_STYLESHEET = re.compile(r'<link rel="stylesheet" href="(https?://[^"]+)"\s*/?>')
_CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)")

RenderMode = Literal["served", "standalone"]


class AssetsMissing(Unavailable):
    """The npm-installed map assets are not on disk (the API answers 503, the CLI exits 1)."""


class UnknownAsset(RuntimeError):
    """A page references a CDN URL with no local copy in ``ASSET_FILES``."""


def local_path(asset: str) -> Path:
    """Filesystem path of a ``root/path`` asset name."""
    root, _, rest = asset.partition("/")
    return ROOTS[root] / rest


def check_installed() -> None:
    """Raise ``AssetsMissing`` with the fix when the assets are not installed."""
    needed = [*ASSET_FILES.values(), *PAGE_ASSETS.values()]
    missing = [a for a in needed if a and not local_path(a).exists()]
    if missing:
        raise AssetsMissing(
            f"map and page assets are not installed ({missing[0]} is missing): run "
            "scripts/setup.sh or `python -m maps.assets install`"
        )


def install() -> None:
    """Install the locked npm packages into ``maps/node_modules`` (needs npm)."""
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", str(MAPS_DIR)],
        check=True,
    )
    STAMP.write_bytes((MAPS_DIR / "package-lock.json").read_bytes())
    check_installed()


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".woff2":
        mime = "font/woff2"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _inline_css(path: Path) -> str:
    """A stylesheet with its relative ``url(...)`` references turned into data URIs."""

    def replace(match: re.Match[str]) -> str:
        ref = match.group(1)
        if ref.startswith(("data:", "http:", "https:", "#")):
            return match.group(0)
        target = (path.parent / ref.split("?")[0].split("#")[0]).resolve()
        if not target.exists():
            return match.group(0)
        return f'url("{_data_uri(target)}")'

    return _CSS_URL.sub(replace, path.read_text(encoding="utf-8"))


def localize_html(html: str, *, mode: RenderMode, static_url: str = "/static") -> str:
    """Rewrite a rendered Folium page so it loads nothing from the internet."""
    check_installed()

    def resolve(url: str) -> str | None:
        if url not in ASSET_FILES:
            raise UnknownAsset(f"no local copy of map asset {url}; add it to maps/assets.py")
        return ASSET_FILES[url]

    def script(match: re.Match[str]) -> str:
        asset = resolve(match.group(1))
        if asset is None:
            return ""
        if mode == "served":
            return f'<script src="{static_url}/{asset}"></script>'
        code = local_path(asset).read_text(encoding="utf-8").replace("</script", "<\\/script")
        return f"<script>{code}</script>"

    def stylesheet(match: re.Match[str]) -> str:
        asset = resolve(match.group(1))
        if asset is None:
            return ""
        if mode == "served":
            return f'<link rel="stylesheet" href="{static_url}/{asset}"/>'
        return f"<style>{_inline_css(local_path(asset))}</style>"

    return _STYLESHEET.sub(stylesheet, _SCRIPT.sub(script, html))


# The language the map pages are written in (their titles, popups and legends; the layers'
# names carry the Chinese term beside the English one). Branca writes a bare ``<html>``.
MAP_LANGUAGE = "en"


def render(fmap: folium.Map, *, mode: RenderMode, static_url: str = "/static") -> str:
    """The complete offline HTML page of ``fmap``."""
    html = fmap.get_root().render().replace("<html>", f'<html lang="{MAP_LANGUAGE}">', 1)
    return localize_html(html, mode=mode, static_url=static_url)


def write(fmap: folium.Map, path: Path) -> Path:
    """Write ``fmap`` as a standalone page that opens with no network."""
    path.write_text(render(fmap, mode="standalone"), encoding="utf-8")
    return path


if __name__ == "__main__":
    if sys.argv[1:] == ["install"]:
        install()
    else:
        sys.exit("usage: python -m maps.assets install")


_INLINE_SCRIPT = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE
)


def inline_script_hashes(html: str) -> list[str]:
    """CSP sources (``'sha256-…'``) allowing exactly the inline scripts of ``html``."""
    return sorted(
        {
            "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
            for body in _INLINE_SCRIPT.findall(html)
        }
    )


def tile_origin(tile_url: str) -> str | None:
    """The origin basemap tiles come from (``{s}`` subdomains as ``*``); None without tiles."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url.replace("{s}", "SUBDOMAIN"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc.replace('SUBDOMAIN', '*')}"


def content_security_policy(html: str, *, tile_url: str) -> str:
    """A strict Content-Security-Policy for a served map page.

    Scripts: gridpatrol's own files and exactly the page's inline scripts (by SHA-256), no
    ``eval``; images also from the basemap's origin; nothing else from anywhere. Styles allow
    inline ``style`` attributes, which Leaflet sets on every tile and marker.
    """
    hashes = inline_script_hashes(html)
    tiles = tile_origin(tile_url)
    directives = (
        "default-src 'none'",
        "script-src 'self' " + " ".join(hashes),
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:" + (f" {tiles}" if tiles else ""),
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
    return "; ".join(directives)
