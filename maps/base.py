"""The base every gridpatrol map starts from: basemap (configurable, may be none) and extent."""

from __future__ import annotations

import folium
from folium.plugins import Fullscreen

from gis.territory.layers import BBox


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
    if title:
        fmap.get_root().html.add_child(  # type: ignore[attr-defined]
            folium.Element(
                '<div style="position:fixed;top:10px;left:60px;z-index:1000;background:white;'
                "padding:6px 12px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);"
                f'font:600 15px sans-serif">{title}</div>'
            )
        )
    Fullscreen(position="topleft").add_to(fmap)  # type: ignore[no-untyped-call]
    return fmap
