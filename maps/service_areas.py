"""The service-area map (15-minute life circle): each facility's walk area, the buildings beyond
the walk limit coloured by their walk minutes, those served across a district border, district
borders, and proposed new sites."""

from __future__ import annotations

import html
from typing import Any

import folium
from sqlalchemy import Connection

from gis.core.settings import Settings
from gis.service_areas.areas import WalkArea, walk_areas
from gis.service_areas.gaps import GapBuilding, Gaps, find_gaps
from gis.service_areas.siting import Siting, site_stations
from gis.service_areas.walk import (
    DEFAULT_KIND,
    DEFAULT_MINUTES,
    DEFAULT_WALK_SPEED_KMH,
    check_limit,
)
from gis.territory.map_data import district_layer, district_names, map_bounds
from maps.base import base_map
from maps.legend import DISTRICT_COLOURS, LegendItem, add_legend
from maps.vector import TileSource, add_vector_layer, vector_spec

# Buildings drawn as markers at most (the farthest first); the totals count them all.
MARKER_LIMIT = 5000
NOT_CONNECTED_COLOUR = "#000000"
ACROSS_COLOUR = "#7b3294"
SITE_COLOUR = "#00a651"


def minute_bands(minutes: float) -> list[tuple[float, str, str]]:
    """(upper minutes, label, colour) of the bands buildings beyond ``minutes`` are drawn in."""
    return [
        (minutes * 4 / 3, f"{minutes:g}–{minutes * 4 / 3:g} min", "#fdae61"),
        (minutes * 2, f"{minutes * 4 / 3:g}–{minutes * 2:g} min", "#f46d43"),
        (float("inf"), f"> {minutes * 2:g} min", "#a50026"),
    ]


def _band_colour(walk: float | None, minutes: float) -> str:
    if walk is None:
        return NOT_CONNECTED_COLOUR
    return next(colour for upper, _label, colour in minute_bands(minutes) if walk <= upper)


def _building_popup(b: GapBuilding) -> str:
    walk = "not connected to any" if b.walk_minutes is None else f"{b.walk_minutes:.1f} min to"
    return (
        f"<b>{html.escape(b.name or b.code)}</b> {html.escape(b.code)}<br>{b.residents} residents"
        f"<br>{walk} {html.escape(b.nearest_facility or 'facility')}"
        f"<br>district {b.district_code or '–'}, nearest facility's "
        f"{b.nearest_facility_district or '–'}"
    )


def build_service_area_map(
    *,
    areas: list[WalkArea],
    gaps: Gaps,
    siting: Siting | None,
    districts: TileSource | dict[str, Any],
    district_names: dict[str, str],
    bounds: tuple[float, float, float, float] | None,
    tile_url: str = "",
    attribution: str = "",
) -> folium.Map:
    """The map of ``areas`` and ``gaps`` (and ``siting``'s sites, if any) over the districts
    (tiles from a server, or an inline FeatureCollection)."""
    fmap = base_map(
        bounds=bounds,
        tile_url=tile_url,
        attribution=attribution,
        title=f"{gaps.minutes:g}分钟生活圈 · {gaps.minutes:g}-minute walk to {gaps.kind}",
    )
    codes = sorted(district_names)
    colours = {code: DISTRICT_COLOURS[i % len(DISTRICT_COLOURS)] for i, code in enumerate(codes)}
    add_vector_layer(
        fmap,
        vector_spec(
            "districts",
            source=districts,
            style={"color": "#111111", "weight": 4, "fill": False},
            tooltip=[("name", "区"), ("code", "code")],
        ),
        name="区 districts",
    )
    area_group = folium.FeatureGroup(name="步行范围 walk areas")
    station_group = folium.FeatureGroup(name="设施 facilities")
    for area in areas:
        colour = colours.get(area.district_code or "", "#888888")
        label = (
            f"{area.name or area.code} {area.code}: {area.buildings} buildings, "
            f"{area.residents:,} residents within {gaps.minutes:g} min"
        )
        if area.geometry is not None:
            folium.GeoJson(
                {"type": "Feature", "geometry": area.geometry, "properties": {}},
                style_function=lambda _f, c=colour: {
                    "color": c,
                    "weight": 1,
                    "fillColor": c,
                    "fillOpacity": 0.12,
                },
                tooltip=label,
            ).add_to(area_group)
    area_group.add_to(fmap)
    gap_group = folium.FeatureGroup(name="超出步行范围的楼栋 buildings beyond the limit")
    for b in gaps.gaps[:MARKER_LIMIT]:
        colour = _band_colour(b.walk_minutes, gaps.minutes)
        folium.CircleMarker(
            [b.lat, b.lon],
            radius=4,
            color=colour,
            weight=1,
            fill=True,
            fill_color=colour,
            fill_opacity=0.9,
            tooltip=f"{b.code}: "
            + ("not connected" if b.walk_minutes is None else f"{b.walk_minutes:.1f} min"),
            popup=folium.Popup(_building_popup(b), max_width=300),
        ).add_to(gap_group)
    gap_group.add_to(fmap)
    across_group = folium.FeatureGroup(name="跨区服务 served across a border", show=False)
    for b in gaps.across_border[:MARKER_LIMIT]:
        if b.within_limit:
            folium.CircleMarker(
                [b.lat, b.lon],
                radius=3,
                color=ACROSS_COLOUR,
                weight=2,
                fill=False,
                tooltip=f"{b.code}: {b.walk_minutes:.1f} min to {b.nearest_facility} "
                f"in {b.nearest_facility_district}",
            ).add_to(across_group)
    across_group.add_to(fmap)
    for area in areas:
        folium.CircleMarker(
            [area.lat, area.lon],
            radius=7,
            color="#111111",
            weight=2,
            fill=True,
            fill_color="#ffffff",
            fill_opacity=1,
            tooltip=f"{area.name or area.code} {area.code}",
        ).add_to(station_group)
    station_group.add_to(fmap)
    items = [
        LegendItem(f"walk area ({district_names.get(c, c)})", fill=colours[c], border=colours[c])
        for c in codes
    ]
    items += [
        LegendItem(label, fill=colour, border=colour, round=True)
        for _upper, label, colour in minute_bands(gaps.minutes)
    ]
    items.append(LegendItem("not connected", fill=NOT_CONNECTED_COLOUR, round=True))
    items.append(LegendItem("served across a border", border=ACROSS_COLOUR, round=True))
    items.append(LegendItem(f"{gaps.kind}", fill="#ffffff", border="#111111", round=True))
    note = (
        f"{gaps.beyond_buildings:,} buildings ({gaps.beyond_residents:,} residents) beyond "
        f"{gaps.minutes:g} min at {gaps.walk_speed_kmh:g} km/h; "
        f"{gaps.across_border_matched:,} nearest to a facility in another district"
    )
    if len(gaps.gaps) > MARKER_LIMIT:
        note += f"; the {MARKER_LIMIT:,} farthest drawn"
    if siting is not None:
        site_group = folium.FeatureGroup(name="建议新站点 proposed sites")
        for rank, site in enumerate(siting.sites, 1):
            folium.Marker(
                [site.lat, site.lon],
                icon=folium.DivIcon(
                    html=(
                        f'<div style="background:{SITE_COLOUR};color:#fff;border:2px solid #fff;'
                        "border-radius:50%;width:22px;height:22px;text-align:center;"
                        'font:700 13px/22px sans-serif;transform:translate(-50%,-50%)">'
                        f"{rank}</div>"
                    ),
                    icon_size=(0, 0),
                ),
                tooltip=f"proposed site {rank}: {site.label}, +{site.new_residents:,} residents",
            ).add_to(site_group)
        site_group.add_to(fmap)
        items.append(LegendItem("proposed site", fill=SITE_COLOUR, border=SITE_COLOUR, round=True))
        note += (
            f"; {len(siting.sites)} new sites: {siting.covered_before:,} → "
            f"{siting.covered_after:,} residents within reach"
        )
    folium.LayerControl(collapsed=False).add_to(fmap)
    add_legend(fmap, title="图例 Legend", items=items, note=note)
    return fmap


def service_areas_page(
    conn: Connection,
    settings: Settings,
    *,
    kind: str = DEFAULT_KIND,
    minutes: float = DEFAULT_MINUTES,
    walk_speed_kmh: float = DEFAULT_WALK_SPEED_KMH,
    new_sites: int = 0,
    tiles: TileSource | None = None,
) -> folium.Map:
    """The service-area map of the whole city, from the same domain functions as the API;
    ``new_sites`` > 0 also proposes that many sites among the buildings."""
    check_limit(kind=kind, minutes=minutes, walk_speed_kmh=walk_speed_kmh)
    siting = (
        site_stations(
            conn, new_sites=new_sites, kind=kind, minutes=minutes, walk_speed_kmh=walk_speed_kmh
        )
        if new_sites
        else None
    )
    fmap = build_service_area_map(
        areas=walk_areas(conn, kind=kind, minutes=minutes, walk_speed_kmh=walk_speed_kmh),
        gaps=find_gaps(
            conn, kind=kind, minutes=minutes, walk_speed_kmh=walk_speed_kmh, limit=MARKER_LIMIT
        ),
        siting=siting,
        districts=tiles if tiles is not None else district_layer(conn),
        district_names=district_names(conn),
        bounds=map_bounds(conn, None),
        tile_url=settings.tile_url,
        attribution=settings.tile_attribution,
    )
    # The page's <title> (branca writes it raw: escaped here).
    fmap.get_root().title = html.escape(  # type: ignore[attr-defined]
        f"{minutes:g}-minute walk areas ({kind}) · gridpatrol"
    )
    return fmap
