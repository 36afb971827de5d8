"""The cross-district coverage map: district borders emphasised, straddling communities and
grids coloured by district with their shares, enclave parts (插花地) outlined."""

from __future__ import annotations

import html
from typing import Any

import folium
from shapely.geometry import shape

from gis.territory.coverage import CrossDistrictCoverage, CrossDistrictUnit
from gis.territory.layers import BBox
from maps.base import base_map
from maps.legend import DISTRICT_COLOURS, PROBLEM_COLOUR, LegendItem, add_legend
from maps.vector import TileSource, add_vector_layer, vector_spec


def _shares_html(unit: CrossDistrictUnit) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(d.district_name)} {d.district_code}{' (own)' if d.own else ''}"
        f"</td><td style='text-align:right'>{d.share:.1%}</td>"
        f"<td style='text-align:right'>{d.area_m2:,.0f} m²</td>"
        f"<td style='text-align:right'>{d.buildings} / {d.residents:,}</td></tr>"
        for d in unit.districts
    )
    return (
        f"<b>{html.escape(unit.name)}</b> {unit.code}<br>{unit.area_m2:,.0f} m², own district "
        f"{unit.own_district_code}<table style='font-size:12px'><tr><th>district</th>"
        f"<th>share</th><th>area</th><th>bld / res</th></tr>{rows}</table>"
    )


def _unit_parts(
    units: list[CrossDistrictUnit],
    colours: dict[str, str],
    *,
    name: str,
    opacity: float,
    label_shares: bool = False,
) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name=name)
    for unit in units:
        popup = _shares_html(unit)
        for part in unit.districts:
            colour = colours.get(part.district_code, "#888888")
            part_layer = folium.GeoJson(
                part.geometry,
                style_function=lambda _f, c=colour: {
                    "color": c,
                    "weight": 2,
                    "fillColor": c,
                    "fillOpacity": opacity,
                },
                tooltip=f"{unit.name} {unit.code}: {part.share:.1%} in {part.district_name}",
            )
            folium.Popup(popup, max_width=420).add_to(part_layer)
            part_layer.add_to(group)
            if label_shares:
                point = shape(part.geometry).representative_point()
                folium.Marker(
                    [point.y, point.x],
                    icon=folium.DivIcon(
                        html=(
                            '<div style="font-weight:700;font-size:12px;color:#111;'
                            "white-space:nowrap;"
                            "text-shadow:0 0 3px #fff,0 0 3px #fff;transform:translate(-50%,-50%)"
                            f'">{part.share:.1%}</div>'
                        ),
                        icon_size=(0, 0),
                    ),
                ).add_to(group)
    return group


def build_coverage_map(
    coverage: CrossDistrictCoverage,
    *,
    district_names: dict[str, str],
    source: TileSource | tuple[dict[str, Any], dict[str, Any]],
    bounds: BBox | None,
    tile_url: str = "",
    attribution: str = "",
) -> folium.Map:
    """The coverage map of ``coverage`` over the districts and communities, which come as
    tiles from a server or inline as ``(districts, communities)`` FeatureCollections."""
    fmap = base_map(
        bounds=bounds,
        tile_url=tile_url,
        attribution=attribution,
        title="跨区覆盖 · Cross-district coverage",
    )
    codes = sorted(district_names)
    colours = {code: DISTRICT_COLOURS[i % len(DISTRICT_COLOURS)] for i, code in enumerate(codes)}
    names = district_names
    districts, communities = (source, source) if isinstance(source, TileSource) else source

    add_vector_layer(
        fmap,
        vector_spec(
            "districts",
            source=districts,
            style={"color": "#111111", "weight": 5, "fill": True, "fillOpacity": 0.07},
            fill_by="code",
            fill_lookup=colours,
            tooltip=[("name", "区"), ("code", "code")],
        ),
        name="区 districts",
    )
    add_vector_layer(
        fmap,
        vector_spec(
            "communities",
            source=communities,
            style={"color": "#777777", "weight": 1, "fill": False},
            tooltip=[("name", "社区"), ("code", "code")],
        ),
        name="社区 communities",
    )
    _unit_parts(
        coverage.grids, colours, name="跨区网格 grids across districts", opacity=0.25
    ).add_to(fmap)
    _unit_parts(
        coverage.communities,
        colours,
        name="跨区社区 communities across districts",
        opacity=0.5,
        label_shares=True,
    ).add_to(fmap)

    enclaves = folium.FeatureGroup(name="插花地 enclave parts")
    for unit in coverage.communities:
        for part in unit.enclave_parts:
            outline = folium.GeoJson(
                part.geometry,
                style_function=lambda _f: {
                    "color": PROBLEM_COLOUR,
                    "weight": 3,
                    "dashArray": "8 5",
                    "fillOpacity": 0,
                },
            )
            folium.Popup(
                f"<b>插花地 enclave</b> of {html.escape(unit.name)} {unit.code}<br>"
                f"in {html.escape(names.get(part.district_code, ''))} {part.district_code} "
                f"(own {unit.own_district_code})<br>{part.area_m2:,.0f} m², "
                f"{part.buildings} buildings, {part.residents:,} residents",
                max_width=360,
            ).add_to(outline)
            outline.add_to(enclaves)
    enclaves.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    add_legend(
        fmap,
        title="图例 Legend",
        items=[
            *(
                LegendItem(f"{names.get(code, '')} {code}", fill=colours[code], border="#111111")
                for code in codes
            ),
            LegendItem("社区 community", border="#777777"),
            LegendItem("插花地 enclave part", border=PROBLEM_COLOUR, dashed=True),
        ],
        note=(
            f"{len(coverage.communities)} communities and {len(coverage.grids)} grids span "
            "more than one district; click a part for its shares"
        ),
    )
    return fmap
