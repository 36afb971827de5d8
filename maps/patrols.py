"""The patrol map: routes coloured per patroller with arrows for direction, numbered stops with
arrival times, unserved stops marked, district borders, and a compared plan's other mode as a
toggled layer. Also the grids map's patrol-coverage layer (grids coloured by staleness).

Arrows come from leaflet-polylinedecorator (npm, served locally like every other asset).
"""

from __future__ import annotations

import html
import math
from typing import Any

import folium
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from jinja2 import Template

from gis.patrols.kinds import KIND_LABELS
from maps.base import base_map
from maps.grids import GRIDS_MIN_ZOOM
from maps.legend import CATEGORY_COLOURS, PROBLEM_COLOUR, LegendItem, add_legend
from maps.vector import TileSource, add_vector_layer, vector_spec

POLYLINE_DECORATOR_URL = (
    "https://cdn.jsdelivr.net/npm/leaflet-polylinedecorator@1.6.0/dist/leaflet.polylineDecorator.js"
)
STALE_COLOUR = "#d7191c"
PATROLLED_COLOUR = "#1a9850"
UNKNOWN_COLOUR = "#bbbbbb"


class RouteArrows(JSCSSMixin, MacroElement):
    """Arrow heads along a polyline, in the direction it is walked, in the polyline's layer."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        L.polylineDecorator({{ this.line.get_name() }}, {
            patterns: [{offset: 25, repeat: 90, symbol: L.Symbol.arrowHead({
                pixelSize: 9, polygon: true,
                pathOptions: {color: {{ this.colour|tojson }}, fillOpacity: 0.95, weight: 0,
                              className: 'gp-arrow'}})}]
        }).addTo({{ this.group.get_name() }});
        {% endmacro %}
        """
    )
    default_js = [("leaflet.polylineDecorator", POLYLINE_DECORATOR_URL)]

    def __init__(self, line: folium.PolyLine, group: folium.FeatureGroup, colour: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "RouteArrows"
        self.line = line
        self.group = group
        self.colour = colour


def patroller_colour(seq: int) -> str:
    """The colour of the ``seq``-th route (1-based), the same in both modes of a plan."""
    return CATEGORY_COLOURS[(seq - 1) % len(CATEGORY_COLOURS)]


def _time(value: str | None) -> str:
    return "" if not value else value[11:16]


def _stop_popup(stop: dict[str, Any], patroller: str) -> str:
    rows = [
        ("#", str(stop["seq"])),
        ("patroller", patroller),
        ("stop", f"{KIND_LABELS.get(stop['kind'], stop['kind'])} {stop['ref']}"),
        ("what", stop.get("label") or ""),
        ("arrive", _time(stop["arrive_at"])),
        ("leave", _time(stop["depart_at"])),
        ("grid", stop.get("grid_code") or ""),
        ("district", stop.get("district_code") or ""),
    ]
    if stop.get("due_at"):
        rows.append(("due", stop["due_at"][:16].replace("T", " ")))
    if stop.get("late"):
        rows.append(("LATE", f"+{stop['late_minutes']:.0f} min"))
    return "<br>".join(f"<b>{html.escape(k)}</b>: {html.escape(v)}" for k, v in rows)


def _number_icon(
    seq: int, colour: str, *, late: bool, shift: tuple[int, int] = (0, 0)
) -> folium.DivIcon:
    ring = PROBLEM_COLOUR if late else "#ffffff"
    dx, dy = shift
    return folium.DivIcon(
        html=(
            f'<div class="gp-stop" style="transform:translate(calc(-50% + {dx}px),'
            f"calc(-50% + {dy}px));width:18px;height:18px;"
            f"border-radius:50%;background:{colour};border:2px solid {ring};color:#fff;"
            "font-weight:700;font-size:10px;line-height:18px;text-align:center;"
            'box-shadow:0 0 2px #000">'
            f"{seq}</div>"
        ),
        icon_size=(0, 0),
    )


# Stops closer than this share a place on the map: their numbers are set around it.
_SAME_PLACE_DEG = 0.00012  # ~12 m
_RING_PX = 13


def _declutter(plan: dict[str, Any]) -> dict[int, tuple[int, int]]:
    """Pixel offsets for numbered stops that would hide one another: stops at (nearly) one
    place, of any route, are set on a small ring around it, in route and visit order."""
    places: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for route in plan["routes"]:
        for stop in route["stops"]:
            key = (round(stop["lon"] / _SAME_PLACE_DEG), round(stop["lat"] / _SAME_PLACE_DEG))
            places.setdefault(key, []).append(stop)
    shifts: dict[int, tuple[int, int]] = {}
    for stops in places.values():
        if len(stops) < 2:
            continue
        radius = _RING_PX * max(1.0, len(stops) / 6)
        for k, stop in enumerate(stops):
            angle = 2 * math.pi * k / len(stops) - math.pi / 2
            shifts[id(stop)] = (round(radius * math.cos(angle)), round(radius * math.sin(angle)))
    return shifts


def _plan_layer(plan: dict[str, Any], *, name: str, show: bool) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name=name, show=show)
    shifts = _declutter(plan)
    for route in plan["routes"]:
        colour = patroller_colour(route["seq"])
        patroller = route["patroller"]["name"]
        start = route["start"]
        folium.Marker(
            [start["lat"], start["lon"]],
            icon=folium.DivIcon(
                html=(
                    '<div class="gp-start" style="transform:translate(-50%,-50%);width:16px;'
                    f"height:16px;background:{colour};border:2px solid #000;"
                    'box-shadow:0 0 2px #fff"></div>'
                ),
                icon_size=(0, 0),
            ),
            tooltip=f"{patroller}: start {_time(route['depart_at'])}, "
            f"back {_time(route['return_at'])}",
            # Leaflet makes a marker a keyboard button; its icon is an empty square, so the
            # title is the button's name for a screen reader.
            title=f"{patroller}: start",
        ).add_to(group)
        if route["geometry"] is not None:
            line = folium.PolyLine(  # type: ignore[no-untyped-call]
                [(lat, lon) for lon, lat in route["geometry"]["coordinates"]],
                color=colour,
                weight=5,
                opacity=0.85,
                tooltip=f"{patroller}: {route['length_m'] / 1000:,.2f} km, "
                f"{route['duration_minutes']:,.0f} min, {len(route['stops'])} stops",
                class_name="gp-route",
            )
            line.add_to(group)
            RouteArrows(line, group, colour).add_to(line)
        for stop in route["stops"]:
            folium.Marker(
                [stop["lat"], stop["lon"]],
                icon=_number_icon(
                    stop["seq"], colour, late=stop["late"], shift=shifts.get(id(stop), (0, 0))
                ),
                tooltip=f"{stop['seq']}. {patroller} {_time(stop['arrive_at'])}",
                popup=folium.Popup(_stop_popup(stop, patroller), max_width=320),
            ).add_to(group)
    return group


def _unserved_layer(plan: dict[str, Any], *, name: str, show: bool) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name=name, show=show)
    for stop in plan["unserved"]:
        text = (
            f"<b>unserved</b> {html.escape(KIND_LABELS.get(stop['kind'], stop['kind']))} "
            f"{html.escape(stop['ref'])}<br>{html.escape(stop['reason'])}"
        )
        folium.CircleMarker(
            [stop["lat"], stop["lon"]],
            radius=7,
            color=PROBLEM_COLOUR,
            weight=3,
            fill=True,
            fill_color="#ffffff",
            fill_opacity=0.9,
            dash_array="3 3",
            tooltip=f"unserved: {stop['kind']} {stop['ref']}",
            popup=folium.Popup(text, max_width=320),
            class_name="gp-unserved",
        ).add_to(group)
    return group


def _bounds(plans: list[dict[str, Any]]) -> tuple[float, float, float, float] | None:
    """What the map opens on: the routes walked (starts, stops, streets); the unserved stops
    only when nothing is walked (they may lie anywhere in the districts: the layer shows them
    when zoomed out)."""
    lons: list[float] = []
    lats: list[float] = []
    for plan in plans:
        for route in plan["routes"]:
            points = [route["start"], route["end"], *route["stops"]]
            lons += [p["lon"] for p in points]
            lats += [p["lat"] for p in points]
            if route["geometry"]:
                lons += [c[0] for c in route["geometry"]["coordinates"]]
                lats += [c[1] for c in route["geometry"]["coordinates"]]
    if not lons:
        for plan in plans:
            lons += [u["lon"] for u in plan["unserved"]]
            lats += [u["lat"] for u in plan["unserved"]]
    if not lons:
        return None
    pad = 0.0008
    return (min(lons) - pad, min(lats) - pad, max(lons) + pad, max(lats) + pad)


def _achieved(plan: dict[str, Any]) -> str:
    """One line for the header: stops served (how many late), unserved (how many required),
    kilometres, and what joint patrolling gained over by_district when compared."""
    served = [stop for route in plan["routes"] for stop in route["stops"]]
    late = sum(1 for stop in served if stop["late"])
    required = sum(1 for stop in plan["unserved"] if stop.get("required"))
    parts = [
        f"{len(served)} stops served ({late} late)",
        f"{len(plan['unserved'])} unserved ({required} required)",
        f"{plan['total_length_m'] / 1000:,.1f} km walked",
    ]
    comparison = plan.get("comparison")
    if comparison:
        saved = comparison["saved_m"]
        parts.append(
            f"joint vs by_district: {abs(saved):,.0f} m {'shorter' if saved >= 0 else 'longer'}"
            f" ({abs(comparison['saved_pct']):g} %), {comparison['stops_gained']:+d} stops"
        )
    return html.escape(" · ".join(parts))


def build_patrol_map(
    plan: dict[str, Any],
    *,
    alternative: dict[str, Any] | None = None,
    districts: dict[str, Any] | None = None,
    tile_url: str = "",
    attribution: str = "",
) -> folium.Map:
    """The map of a stored plan (``gis.patrols.storage.get_plan``), with the other mode's plan
    of a comparison as a second, hidden layer group."""
    title = f"巡查 Patrol plan {plan['id']} · {plan['mode']}"
    if plan.get("name"):
        title += f" · {html.escape(plan['name'])}"
    title += (
        f'<div class="gp-achieved" style="font-weight:400;font-size:13px">{_achieved(plan)}</div>'
    )
    fmap = base_map(
        bounds=_bounds([plan]),
        tile_url=tile_url,
        attribution=attribution,
        title=title,
    )
    if districts is not None:
        folium.GeoJson(
            districts,
            name="区界 district borders",
            style_function=lambda _f: {"color": "#111111", "weight": 4, "fillOpacity": 0},
            tooltip=folium.GeoJsonTooltip(["name", "code"], aliases=["区", "code"]),
        ).add_to(fmap)
    _plan_layer(plan, name=f"{plan['mode']} routes (plan {plan['id']})", show=True).add_to(fmap)
    _unserved_layer(plan, name=f"{plan['mode']} unserved stops", show=True).add_to(fmap)
    if alternative is not None:
        _plan_layer(
            alternative,
            name=f"{alternative['mode']} routes (plan {alternative['id']}, compared)",
            show=False,
        ).add_to(fmap)
        _unserved_layer(
            alternative, name=f"{alternative['mode']} unserved stops", show=False
        ).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)

    items = [
        LegendItem(
            f"{r['seq']}. {r['patroller']['name']} ({r['patroller']['district'] or '—'}): "
            f"{r['length_m'] / 1000:,.2f} km, {len(r['stops'])} stops",
            fill=patroller_colour(r["seq"]),
            border=patroller_colour(r["seq"]),
        )
        for r in plan["routes"]
    ]
    items += [
        LegendItem(
            "numbered stop (red ring: late)", fill="#666666", border=PROBLEM_COLOUR, round=True
        ),
        LegendItem("unserved stop", fill="#ffffff", border=PROBLEM_COLOUR, dashed=True, round=True),
        LegendItem("区界 district border", border="#111111"),
    ]
    note = "the header says what the plan achieved"
    if plan.get("comparison"):
        note += "; toggle the layers to see the compared mode's routes"
    add_legend(fmap, title="图例 Legend", items=items, note=note)
    return fmap


# ----------------------------------------------------------------------------- coverage
def add_patrol_coverage_layer(
    fmap: folium.Map,
    grids: dict[str, Any] | TileSource,
    coverage: dict[str, dict[str, Any]],
    *,
    window: str,
) -> None:
    """Grids coloured by patrol staleness in ``window`` (``coverage`` by grid code, from
    ``gis.patrols.coverage.coverage_by_grid``): red stale, green patrolled.

    ``grids`` is the page's grid FeatureCollection, or the server whose ``grids`` tiles to
    colour; then the page carries only the codes of the grids patrolled in the window.
    """
    name = f"巡查覆盖 patrol coverage ({window})"
    if isinstance(grids, TileSource):
        patrolled = {code: PATROLLED_COLOUR for code, e in coverage.items() if not e["stale"]}
        add_vector_layer(
            fmap,
            vector_spec(
                "grids",
                source=grids,
                style={
                    "color": STALE_COLOUR,
                    "weight": 1,
                    "fill": True,
                    "fillColor": STALE_COLOUR,
                    "fillOpacity": 0.45,
                },
                fill_by="code",
                fill_lookup=patrolled,
                stroke_like_fill=True,
                tooltip=[("name", "网格"), ("code", "code")],
                min_zoom=GRIDS_MIN_ZOOM,
            ),
            name=name,
        )
        return

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        entry = coverage.get(feature["properties"]["code"])
        colour = (
            UNKNOWN_COLOUR
            if entry is None
            else (STALE_COLOUR if entry["stale"] else PATROLLED_COLOUR)
        )
        return {"color": colour, "weight": 1, "fillColor": colour, "fillOpacity": 0.45}

    features = []
    for feature in grids["features"]:
        entry = coverage.get(feature["properties"]["code"], {})
        properties = dict(feature["properties"])
        properties["patrol"] = (
            "stale: no patrol in the window" if entry.get("stale", True) else "patrolled"
        )
        properties["last_patrolled_at"] = entry.get("last_patrolled_at") or "never"
        properties["walked_m"] = entry.get("walked_m", 0.0)
        features.append({**feature, "properties": properties})
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=name,
        style_function=style,
        tooltip=folium.GeoJsonTooltip(
            ["code", "patrol", "last_patrolled_at", "walked_m"],
            aliases=["网格", "patrol", "last patrolled", "metres walked"],
        ),
        show=True,
    ).add_to(fmap)
