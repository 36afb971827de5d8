"""The base every gridpatrol map starts from: basemap (configurable, may be none) and extent."""

from __future__ import annotations

import folium
from folium.plugins import Fullscreen

from gis.territory.layers import BBox

# Chinese names need CJK glyphs on the machine that renders the page: name the common CJK
# faces of Linux (Debian's fonts-noto-cjk, WenQuanYi), macOS and Windows first, then any
# sans-serif, so the browser never falls back to boxes when one of them is installed.
FONT_STACK = (
    '"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", '
    '"PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Helvetica Neue", Arial, sans-serif'
)
_PAGE_STYLE = (
    "<style>body,.leaflet-container,.leaflet-control-layers,.leaflet-popup-content,.leaflet-tooltip,"
    f".gp-legend,.gp-title,.gp-label{{font-family:{FONT_STACK}}}</style>"
)


def base_map(
    *,
    bounds: BBox | None,
    tile_url: str,
    attribution: str,
    title: str | None = None,
) -> folium.Map:
    """An empty map fitted to ``bounds`` (lon/lat); no basemap when ``tile_url`` is empty."""
    # max_zoom: with no tile layer Leaflet has no zoom range, and MarkerCluster needs one.
    # Folium only passes max_zoom to a tile layer, so set Leaflet's option directly.
    fmap = folium.Map(tiles=None, control_scale=True, maxZoom=19, minZoom=3)
    if tile_url:
        folium.TileLayer(tiles=tile_url, attr=attribution, name="basemap", control=True).add_to(
            fmap
        )
    if bounds is not None:
        minx, miny, maxx, maxy = bounds
        fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    root = fmap.get_root()
    root.header.add_child(folium.Element(_PAGE_STYLE))  # type: ignore[attr-defined]
    if title:
        root.html.add_child(  # type: ignore[attr-defined]
            folium.Element(
                '<div class="gp-title" style="position:fixed;top:10px;left:60px;z-index:1000;'
                "max-width:calc(100% - 440px);"
                "background:white;padding:6px 12px;border-radius:4px;"
                'box-shadow:0 1px 4px rgba(0,0,0,.3);font-size:15px;font-weight:600">'
                f"{title}</div>"
            )
        )
    Fullscreen(position="topleft").add_to(fmap)  # type: ignore[no-untyped-call]
    return fmap
