"""The grids map: districts, communities, grids with codes and counts, buildings coloured by
grid, and the topology problems highlighted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import folium
from shapely.geometry import shape

from gis.core.vocabulary import CODE_DIGITS, Level
from gis.territory.map_data import GridMapData
from gis.territory.topology import TopologyReport
from maps.base import base_map
from maps.legend import PROBLEM_COLOUR, LegendItem, add_legend, colour_for
from maps.reports import add_open_reports_layer

# Above this many grids, permanent code labels would cover the map: tooltips only.
MAX_LABELLED_GRIDS = 400
# Above this many features Leaflet draws on a canvas instead of one SVG node per polygon.
CANVAS_FROM_FEATURES = 8000


def _grid_labels(grids: dict[str, Any]) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name="网格编号 grid codes")
    for feature in grids["features"]:
        point = shape(feature["geometry"]).representative_point()
        code = feature["properties"]["code"]
        serial = code[CODE_DIGITS[Level.COMMUNITY] :]  # the grid's serial within its community
        folium.Marker(
            [point.y, point.x],
            icon=folium.DivIcon(
                html=(
                    '<div style="font:600 10px sans-serif;color:#123;text-shadow:0 0 2px #fff,'
                    f'0 0 2px #fff;white-space:nowrap;transform:translate(-50%,-50%)">{serial}'
                    "</div>"
                ),
                icon_size=(0, 0),
            ),
            tooltip=code,
        ).add_to(group)
    return group


def _problem_layer(report: TopologyReport) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name="拓扑问题 topology problems")

    def polygon(geometry: dict[str, Any], colour: str, popup: str) -> None:
        shape_layer = folium.GeoJson(
            geometry,
            style_function=lambda _f: {
                "color": colour,
                "weight": 3,
                "fillColor": colour,
                "fillOpacity": 0.55,
            },
            tooltip=popup,
        )
        folium.Popup(popup, max_width=320).add_to(shape_layer)
        shape_layer.add_to(group)

    def dot(geometry: dict[str, Any], colour: str, popup: str) -> None:
        point = shape(geometry).representative_point()
        folium.CircleMarker(
            [point.y, point.x],
            radius=9,
            color=colour,
            weight=3,
            fill=True,
            fill_opacity=0.25,
            popup=folium.Popup(popup, max_width=320),
            tooltip=popup,
        ).add_to(group)

    for gap in report.gaps:
        polygon(
            gap.geometry, PROBLEM_COLOUR, f"缺口 gap in {gap.community_code}: {gap.area_m2:,.1f} m²"
        )
    for sliver in report.slivers:
        dot(
            sliver.geometry,
            "#fd8d3c",
            f"碎片 sliver in {sliver.community_code}: {sliver.area_m2:.2f} m²",
        )
    for o in report.overlaps:
        polygon(
            o.geometry, "#9e0142", f"重叠 overlap {' × '.join(o.grid_codes)}: {o.area_m2:,.1f} m²"
        )
    for out in report.outside_community:
        polygon(
            out.geometry,
            "#5e3c99",
            f"越界 grid {out.grid_code} outside {out.community_code}: {out.area_m2:,.1f} m²",
        )
    for bad in report.invalid_geometries:
        if bad.location:
            dot(bad.location, PROBLEM_COLOUR, f"无效 invalid {bad.layer} {bad.code}: {bad.reason}")
    for lost in report.unassigned_buildings:
        dot(lost.location, "#000000", f"未分配 building {lost.code} in no grid")
    return group


def build_grid_map(
    data: GridMapData,
    *,
    report: TopologyReport | None = None,
    open_reports: dict[str, Any] | None = None,
    tile_url: str = "",
    attribution: str = "",
    extra_layers: Sequence[Callable[[folium.Map], None]] = (),
) -> folium.Map:
    """The grids map of ``data`` with ``report``'s problems highlighted and ``open_reports``
    (a FeatureCollection of ``gis.reports.listing.open_reports_geojson``) clustered;
    ``extra_layers`` add more layers (e.g. patrol coverage) before the layer control."""
    fmap = base_map(
        bounds=data.bounds, tile_url=tile_url, attribution=attribution, title="网格 · Grids"
    )
    n_features = len(data.grids["features"]) + len(data.buildings["features"])
    if n_features > CANVAS_FROM_FEATURES:
        fmap.options["preferCanvas"] = True
    split = {b.code: b for b in report.split_buildings} if report else {}

    folium.GeoJson(
        data.communities,
        name="社区 communities",
        style_function=lambda _f: {
            "color": "#555555",
            "weight": 2,
            "dashArray": "6 4",
            "fillOpacity": 0,
        },
        tooltip=folium.GeoJsonTooltip(["name", "code"], aliases=["社区", "code"]),
    ).add_to(fmap)
    folium.GeoJson(
        data.grids,
        name="网格 grids",
        style_function=lambda f: {
            "color": "#1f3a5f",
            "weight": 1,
            "fillColor": colour_for(f["properties"]["code"]),
            "fillOpacity": 0.18,
        },
        highlight_function=lambda _f: {"weight": 3, "fillOpacity": 0.35},
        tooltip=folium.GeoJsonTooltip(
            ["name", "code", "buildings", "residents"],
            aliases=["网格", "code", "楼栋 buildings", "居民 residents"],
        ),
    ).add_to(fmap)
    if data.buildings["features"]:
        folium.GeoJson(
            data.buildings,
            name="楼栋 buildings (by grid)",
            style_function=lambda f: {
                "color": PROBLEM_COLOUR if f["id"] in split else "#222222",
                "weight": 2 if f["id"] in split else 0.5,
                "fillColor": colour_for(f["properties"]["grid_code"]),
                "fillOpacity": 0.85,
            },
            tooltip=folium.GeoJsonTooltip(
                ["code", "grid_code", "residents", "grid_share"],
                aliases=["楼栋", "grid", "居民 residents", "share in grid"],
            ),
        ).add_to(fmap)
    folium.GeoJson(
        data.districts,
        name="区界 district borders",
        style_function=lambda _f: {"color": "#111111", "weight": 4, "fillOpacity": 0},
        interactive=False,
    ).add_to(fmap)
    if len(data.grids["features"]) <= MAX_LABELLED_GRIDS:
        _grid_labels(data.grids).add_to(fmap)
    if report is not None:
        _problem_layer(report).add_to(fmap)
    if open_reports is not None:
        # Before the layer control: its script must run after every layer it lists exists.
        add_open_reports_layer(fmap, open_reports)
    for add_layer in extra_layers:
        add_layer(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)

    shown = len(data.buildings["features"])
    note = f"{shown:,} of {data.buildings_total:,} buildings shown"
    if shown < data.buildings_total:
        note += "; zoom in with ?bbox=minx,miny,maxx,maxy to see the rest"
    if report is not None:
        note += f" · {report.problem_count} topology problem(s), {len(report.slivers)} sliver(s)"
    add_legend(
        fmap,
        title="图例 Legend",
        items=[
            LegendItem("区界 district border", border="#111111"),
            LegendItem("社区 community", border="#555555", dashed=True),
            LegendItem("网格 grid (colour per grid)", fill="#1b9e7755", border="#1f3a5f"),
            LegendItem("楼栋 building, grid's colour", fill="#d95f02"),
            LegendItem("split building", fill="#d95f02", border=PROBLEM_COLOUR),
            LegendItem("缺口 gap", fill=PROBLEM_COLOUR, border=PROBLEM_COLOUR),
            LegendItem("重叠 overlap", fill="#9e0142", border="#9e0142"),
            LegendItem("越界 grid outside community", fill="#5e3c99", border="#5e3c99"),
            LegendItem("碎片 sliver / invalid", border="#fd8d3c", round=True),
            LegendItem("未分配 building in no grid", border="#000000", round=True),
        ],
        note=note,
    )
    return fmap
