"""Care visits on the grids map: buildings with overdue household visits, as counts.

Never a name, phone or care flag: each point is a building with how many of its households'
visits are overdue, of how many on a cadence (``gis.households.listing``). Like the topology
problems, the overlay is a small styled GeoJSON: inline in a standalone page, fetched from
``/maps/grids/care-visits`` after the tiles are drawn on a served one.
"""

from __future__ import annotations

from typing import Any

import folium

from maps.vector import StyledGeoJson

OVERDUE_COLOUR = "#c0392b"
LAYER_NAME = "家访逾期 overdue care visits"
CARE_VISITS_PATH = "/maps/grids/care-visits"


def care_visit_features(buildings: dict[str, Any]) -> dict[str, Any]:
    """The overdue buildings (``overdue_buildings_geojson``) with a circle style sized by the
    count and a label, as the map draws them."""
    features = []
    for feature in buildings["features"]:
        props = feature["properties"]
        label = (
            f"楼栋 {props['code']}: {props['overdue']} overdue care visit(s) of "
            f"{props['households']} household(s) on a cadence"
        )
        style = {
            "radius": 4 + 2 * min(int(props["overdue"]), 6),
            "color": OVERDUE_COLOUR,
            "weight": 1,
            "fill": True,
            "fillColor": OVERDUE_COLOUR,
            "fillOpacity": 0.7,
        }
        features.append({**feature, "properties": {**props, "label": label, "style": style}})
    return {"type": "FeatureCollection", "features": features}


def add_care_visit_layer(fmap: folium.Map, source: dict[str, Any] | str) -> None:
    """The overlay from ``care_visit_features``' collection, or a URL serving it."""
    StyledGeoJson(source, name=LAYER_NAME).add_to(fmap)
