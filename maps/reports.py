"""The open-reports layer: clustered markers coloured by status, overdue ones ringed in red.

``add_open_reports_layer`` takes the FeatureCollection of
``gis.reports.listing.open_reports_geojson`` and adds one ``MarkerCluster`` to a map; the grids
map attaches it. Markers are CircleMarkers (plain Leaflet vectors), so nothing is fetched from an
icon CDN and the layer works offline.
"""

from __future__ import annotations

from html import escape
from typing import Any

import folium
from folium.plugins import MarkerCluster

from gis.core.vocabulary import ReportStatus

# One colour per open status (the layer shows only open reports).
STATUS_COLOURS: dict[str, str] = {
    ReportStatus.REPORTED: "#1f77b4",
    ReportStatus.ACCEPTED: "#17becf",
    ReportStatus.DISPATCHED: "#9467bd",
    ReportStatus.IN_PROGRESS: "#ff7f0e",
}
OVERDUE_COLOUR = "#d62728"
LAYER_NAME = "Open reports"


def _popup(properties: dict[str, Any]) -> str:
    location = properties.get("location") or {}
    rows = [
        ("report", f"#{properties['id']}"),
        ("category", properties.get("category")),
        ("status", properties.get("status")),
        ("grid", location.get("grid_code") or "unlocated"),
        ("due", properties.get("due_resolution_at")),
    ]
    if properties.get("overdue"):
        rows.append(("overdue", "arrival" if properties.get("arrival_overdue") else "resolution"))
    return "<br>".join(f"<b>{escape(k)}</b>: {escape(str(v))}" for k, v in rows)


def add_open_reports_layer(fmap: folium.Map, features: dict[str, Any]) -> None:
    """Add the open reports of a FeatureCollection as a clustered, toggleable layer."""
    cluster = MarkerCluster(name=LAYER_NAME, show=True)  # type: ignore[no-untyped-call]
    for feature in features.get("features", []):
        lon, lat = feature["geometry"]["coordinates"]
        properties = feature["properties"]
        overdue = bool(properties.get("overdue"))
        colour = STATUS_COLOURS.get(properties.get("status", ""), "#7f7f7f")
        folium.CircleMarker(
            location=(lat, lon),
            radius=9 if overdue else 7,
            # Overdue: a thick red ring around the status colour, readable at a glance.
            color=OVERDUE_COLOUR if overdue else colour,
            weight=4 if overdue else 1,
            fill=True,
            fill_color=colour,
            fill_opacity=0.85,
            tooltip=f"#{properties['id']} {properties.get('category')} "
            f"({properties.get('status')}{', OVERDUE' if overdue else ''})",
            popup=folium.Popup(_popup(properties), max_width=300),
            class_name=f"report report-{properties.get('status')}"
            + (" report-overdue" if overdue else ""),
        ).add_to(cluster)
    cluster.add_to(fmap)
