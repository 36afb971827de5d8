"""The hotspot map: units coloured by Gi* bin, a heatmap of the reports, a legend."""

from __future__ import annotations

from typing import Any

import folium
from folium.plugins import HeatMap

from gis.analysis.hotspots import BIN_LABELS, HotspotResult, describe_window, hotspots_geojson
from maps.base import base_map
from maps.vector import TileSource, add_vector_layer, vector_spec

# ArcGIS's hot-spot ramp: blue (cold) through pale yellow to red (hot).
BIN_COLOURS: dict[int, str] = {
    3: "#d62f27",
    2: "#ed7551",
    1: "#fab984",
    0: "#ffffbf",
    -1: "#c0ccbe",
    -2: "#849eba",
    -3: "#4575b5",
}

# The reports' kernel density: one hue (ColorBrewer Purples) from pale to dark, appearing in
# no Gi* bin. Leaflet.heat's default ramp starts at blue, which over the pale not-significant
# units read as cold spots.
DENSITY_GRADIENT: dict[float, str] = {
    0.2: "#dadaeb",
    0.45: "#9e9ac8",
    0.7: "#6a51a3",
    1.0: "#3f007d",
}
DENSITY_LAYER = "report density (kernel)"


def _style(feature: dict[str, Any]) -> dict[str, Any]:
    value = int(feature["properties"]["bin"])
    return {
        "fillColor": BIN_COLOURS[value],
        "color": "#555555",
        "weight": 0.6,
        # Significant units stand out; the rest stay visible so empty places read as data.
        "fillOpacity": 0.75 if value else 0.25,
    }


def _legend(result: HotspotResult) -> str:
    counts = result.bin_counts()
    rows = "".join(
        f'<div><span style="display:inline-block;width:14px;height:14px;margin-right:6px;'
        f'vertical-align:middle;background:{BIN_COLOURS[b]};border:1px solid #777"></span>'
        f"{BIN_LABELS[b]} ({counts[b]})</div>"
        for b in sorted(BIN_COLOURS, reverse=True)
    )
    unit = "grids" if result.unit == "grid" else f"{result.size_m:g} m hexagons"
    return (
        '<div class="gp-legend" style="position:fixed;bottom:28px;right:12px;z-index:1000;'
        "background:white;padding:8px 10px;border-radius:4px;font:12px sans-serif;"
        'box-shadow:0 1px 4px rgba(0,0,0,.3)">'
        f"<b>Getis-Ord Gi* ({unit}), FDR-corrected</b>{rows}"
        f"<div style='margin-top:4px;color:#555'>{result.reports:,} reports · "
        f"{result.permutations:,} permutations</div>{_density_legend()}</div>"
    )


def _density_legend() -> str:
    stops = ", ".join(f"{colour} {share * 100:g}%" for share, colour in DENSITY_GRADIENT.items())
    return (
        "<div style='margin-top:6px'><b>Report density (kernel)</b>, a layer off by default:"
        "<br>where reports are, not a significance test"
        "<div style='display:flex;align-items:center;gap:6px;margin-top:2px'>few"
        f"<span style='display:inline-block;width:90px;height:10px;border:1px solid #777;"
        f"background:linear-gradient(to right, transparent 0%, {stops})'></span>many</div></div>"
    )


def hotspot_map(
    result: HotspotResult,
    *,
    heat_points: list[tuple[float, float, float]],
    reference: TileSource | None = None,
    tile_url: str = "",
    attribution: str = "",
) -> folium.Map:
    """Hot and cold units by bin, the reports' kernel density and a legend, as a Folium map;
    with ``reference``, district and community borders come as tiles from that server."""
    title = f"Report hotspots · {describe_window(result)}"
    fmap = base_map(bounds=result.bounds, tile_url=tile_url, attribution=attribution, title=title)
    if reference is not None:
        add_vector_layer(
            fmap,
            vector_spec(
                "communities",
                source=reference,
                style={"color": "#666666", "weight": 1, "dashArray": "4 3", "fill": False},
            ),
            name="社区 communities",
        )
        add_vector_layer(
            fmap,
            vector_spec(
                "districts",
                source=reference,
                style={"color": "#111111", "weight": 3, "fill": False},
            ),
            name="区界 district borders",
        )
    folium.GeoJson(
        hotspots_geojson(result),
        name="hot and cold spots (Gi*)",
        style_function=_style,
        tooltip=folium.GeoJsonTooltip(
            fields=["id", "count", "z", "p_fdr", "label"],
            aliases=["unit", "reports", "Gi* z", "p (FDR)", "class"],
        ),
    ).add_to(fmap)
    if heat_points:
        top = max(w for _, _, w in heat_points)
        HeatMap(  # type: ignore[no-untyped-call]
            [[lat, lon, w / top] for lat, lon, w in heat_points],
            name=DENSITY_LAYER,
            # A layer to turn on: the Gi* classes are the answer, the density a context.
            show=False,
            gradient=DENSITY_GRADIENT,
            radius=14,
            blur=18,
            min_opacity=0.25,
            max_zoom=16,
        ).add_to(fmap)
    fmap.get_root().html.add_child(folium.Element(_legend(result)))  # type: ignore[attr-defined]
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap
