"""The grids map: districts, communities, grids with codes and counts, buildings coloured by
grid, open reports, and the topology problems highlighted.

The heavy layers are vector layers (``maps.vector``): tiles from a gridpatrol server, or the
GeoJSON of :class:`gis.territory.map_data.GridMapData` sliced in the browser for a standalone
page. Problems are a small styled GeoJSON, inline or fetched after the map is drawn (validating
a city of 10,000 grids takes seconds; the map should not wait for it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import folium
import shapely
from shapely.geometry import shape

from gis.territory.layers import BBox
from gis.territory.map_data import GridMapData
from gis.territory.topology import TopologyReport
from gis.tiles.registry import PUBLISHED
from maps.base import base_map
from maps.legend import PROBLEM_COLOUR, LegendItem, add_legend
from maps.reports import OVERDUE_COLOUR, STATUS_COLOURS, add_open_reports_layer
from maps.vector import StyledGeoJson, TileSource, add_vector_layer, vector_spec

# A grid is labelled with its name (柳荫社区第1网格) from this zoom on, where a grid of the demo
# is ~100 px wide; from LABEL_CODE_ZOOM on, with its full code beside it (a bare serial such
# as "001" names nothing: every community has one).
LABEL_MIN_ZOOM = 15
LABEL_CODE_ZOOM = 17
GRID_LABEL = {
    "field": "name",
    "minZoom": LABEL_MIN_ZOOM,
    "detail": {"field": "code", "minZoom": LABEL_CODE_ZOOM},
}
# Map zooms where the grids and buildings tile layers start (tiles of zoom z are drawn at
# 512 px, i.e. at map zoom z + 1; see maps/vector.py); inline pages draw them at every zoom.
GRIDS_MIN_ZOOM = PUBLISHED["grids"].minzoom + 1
BUILDINGS_MIN_ZOOM = PUBLISHED["buildings"].minzoom + 1

DISTRICT_STYLE = {"color": "#111111", "weight": 4, "fill": False}
COMMUNITY_STYLE = {"color": "#555555", "weight": 2, "dashArray": "6 4", "fill": False}
GRID_STYLE = {"color": "#1f3a5f", "weight": 1, "fill": True, "fillOpacity": 0.18}
BUILDING_STYLE = {"color": "#222222", "weight": 0.5, "fill": True, "fillOpacity": 0.85}
REPORT_STYLE = {"radius": 7, "weight": 1, "fill": True, "fillOpacity": 0.85}
REPORT_OVERDUE_STYLE = {"color": OVERDUE_COLOUR, "weight": 4, "radius": 9}
GRID_TOOLTIP = [
    ("name", "网格"),
    ("code", "code"),
    ("buildings", "楼栋 buildings"),
    ("residents", "居民 residents"),
]
BUILDING_TOOLTIP = [
    ("code", "楼栋"),
    ("grid_code", "grid"),
    ("residents", "居民 residents"),
    ("grid_share", "share in grid"),
]
REPORT_POPUP = [
    ("id", "report"),
    ("category", "category"),
    ("status", "status"),
    ("grid_code", "grid"),
    ("reported_at", "reported"),
    ("due_resolution_at", "due"),
]


# The open-reports layer's dots: a colour per status, overdue ones ringed (maps/reports.py).
_REPORT_LEGEND = [
    *(
        LegendItem(f"诉求 report, {status.replace('_', ' ')}", colour, colour, round=True)
        for status, colour in STATUS_COLOURS.items()
    ),
    LegendItem("逾期 overdue report", fill="#ffffff", border=OVERDUE_COLOUR, round=True),
]


def _label_points(grids: dict[str, Any]) -> dict[str, Any]:
    """One point inside each grid (as ``ST_PointOnSurface`` gives the tiles), with its code
    and name."""
    polygons = [shape(feature["geometry"]) for feature in grids["features"]]
    points = shapely.get_coordinates(shapely.point_on_surface(polygons)).tolist()
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": point},
            "properties": {
                "code": feature["properties"]["code"],
                "name": feature["properties"].get("name"),
            },
        }
        for feature, point in zip(grids["features"], points, strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}


def _problem(geometry: dict[str, Any], label: str, style: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": geometry,
        "properties": {"label": label, "style": style},
    }


def _area(colour: str) -> dict[str, Any]:
    return {"color": colour, "weight": 3, "fillColor": colour, "fillOpacity": 0.55}


def _dot(colour: str) -> dict[str, Any]:
    return {"color": colour, "weight": 3, "radius": 9, "fill": True, "fillOpacity": 0.25}


def _point(geometry: dict[str, Any]) -> dict[str, Any]:
    point = shape(geometry).representative_point()
    return {"type": "Point", "coordinates": [point.x, point.y]}


def problem_features(
    report: TopologyReport, *, split_geometries: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The report's findings as features carrying their own style and label, with a one-line
    ``summary``; split buildings are outlined where ``split_geometries`` has their footprint."""
    features = []
    for g in report.gaps:
        label = f"缺口 gap in {g.community_code}: {g.area_m2:,.1f} m²"
        features.append(_problem(g.geometry, label, _area(PROBLEM_COLOUR)))
    for s in report.slivers:
        label = f"碎片 sliver in {s.community_code}: {s.area_m2:.2f} m²"
        features.append(_problem(_point(s.geometry), label, _dot("#fd8d3c")))
    for o in report.overlaps:
        label = f"重叠 overlap {' × '.join(o.grid_codes)}: {o.area_m2:,.1f} m²"
        features.append(_problem(o.geometry, label, _area("#9e0142")))
    for out in report.outside_community:
        label = f"越界 grid {out.grid_code} outside {out.community_code}: {out.area_m2:,.1f} m²"
        features.append(_problem(out.geometry, label, _area("#5e3c99")))
    for bad in report.invalid_geometries:
        if bad.location:
            label = f"无效 invalid {bad.layer} {bad.code}: {bad.reason}"
            features.append(_problem(_point(bad.location), label, _dot(PROBLEM_COLOUR)))
    for lost in report.unassigned_buildings:
        label = f"未分配 building {lost.code} in no grid"
        features.append(_problem(_point(lost.location), label, _dot("#000000")))
    outlines = split_geometries or {}
    features += [
        _problem(
            outlines[s.code],
            f"split building {s.code}: {s.share:.0%} in {s.grid_code}",
            {"color": PROBLEM_COLOUR, "weight": 2, "fill": False},
        )
        for s in report.split_buildings
        if s.code in outlines
    ]
    return {
        "type": "FeatureCollection",
        "features": features,
        "summary": f"{report.problem_count} topology problem(s), {len(report.slivers)} sliver(s)",
    }


def build_grid_map(
    source: GridMapData | TileSource,
    *,
    bounds: BBox | None,
    problems: dict[str, Any] | str | None = None,
    open_reports: dict[str, Any] | TileSource | None = None,
    tile_url: str = "",
    attribution: str = "",
    extra_layers: Sequence[Callable[[folium.Map], None]] = (),
) -> folium.Map:
    """The grids map of ``source`` (inline data, or tiles from a server).

    ``problems`` is :func:`problem_features`' collection or a URL serving it; ``open_reports``
    a FeatureCollection of ``gis.reports.listing.open_reports_geojson`` (clustered markers) or
    the server whose ``open_reports`` tiles to draw; ``extra_layers`` add more layers (e.g.
    patrol coverage) before the layer control.
    """
    fmap = base_map(bounds=bounds, tile_url=tile_url, attribution=attribution, title="网格 · Grids")

    def layer_source(layer: str) -> TileSource | dict[str, Any]:
        if isinstance(source, TileSource):
            return source
        collection: dict[str, Any] = getattr(source, layer)
        return collection

    add_vector_layer(
        fmap,
        vector_spec(
            "communities",
            source=layer_source("communities"),
            style=COMMUNITY_STYLE,
            tooltip=[("name", "社区"), ("code", "code")],
        ),
        name="社区 communities",
    )
    add_vector_layer(
        fmap,
        vector_spec(
            "grids",
            source=layer_source("grids"),
            style=GRID_STYLE,
            fill_by="code",
            tooltip=GRID_TOOLTIP,
            highlight={"weight": 3, "fillOpacity": 0.35},
            label=GRID_LABEL,
            labels=_label_points(source.grids) if isinstance(source, GridMapData) else None,
            min_zoom=0 if isinstance(source, GridMapData) else GRIDS_MIN_ZOOM,
        ),
        name="网格 grids",
    )
    if not isinstance(source, GridMapData) or source.buildings["features"]:
        add_vector_layer(
            fmap,
            vector_spec(
                "buildings",
                source=layer_source("buildings"),
                style=BUILDING_STYLE,
                fill_by="grid_code",
                tooltip=BUILDING_TOOLTIP,
                min_zoom=0 if isinstance(source, GridMapData) else BUILDINGS_MIN_ZOOM,
            ),
            name="楼栋 buildings (by grid)",
        )
    add_vector_layer(
        fmap,
        vector_spec("districts", source=layer_source("districts"), style=DISTRICT_STYLE),
        name="区界 district borders",
    )
    if problems is not None:
        StyledGeoJson(problems, name="拓扑问题 topology problems").add_to(fmap)
    if isinstance(open_reports, TileSource):
        add_vector_layer(
            fmap,
            vector_spec(
                "open_reports",
                source=open_reports,
                style=REPORT_STYLE,
                fill_by="status",
                fill_lookup=dict(STATUS_COLOURS),
                stroke_like_fill=True,
                popup=REPORT_POPUP,
                tooltip=[("id", "#"), ("category", "category"), ("status", "status")],
                overdue={
                    "fields": ["due_arrival_at", "due_resolution_at"],
                    "style": REPORT_OVERDUE_STYLE,
                },
                class_name="report",
                class_by="status",
            ),
            name="Open reports",
        )
    elif open_reports is not None:
        # Before the layer control: its script must run after every layer it lists exists.
        add_open_reports_layer(fmap, open_reports)
    for add_layer in extra_layers:
        add_layer(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)

    if isinstance(source, GridMapData):
        shown = len(source.buildings["features"])
        note = f"{shown:,} of {source.buildings_total:,} buildings shown"
        if shown < source.buildings_total:
            note += "; zoom in with ?bbox=minx,miny,maxx,maxy to see the rest"
    else:
        note = (
            f"vector tiles: grids from zoom {GRIDS_MIN_ZOOM}, buildings from zoom "
            f"{BUILDINGS_MIN_ZOOM}, grid names from {LABEL_MIN_ZOOM}, codes from {LABEL_CODE_ZOOM}"
        )
    status = None
    if isinstance(problems, dict):
        status = str(problems.get("summary", ""))
    elif problems is not None:
        status = "checking topology…"
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
            *(_REPORT_LEGEND if open_reports is not None else []),
        ],
        note=note,
        status=status,
    )
    return fmap
