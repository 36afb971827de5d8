"""Map legends (``.gp-legend``) and the colour palettes the map builders share."""

from __future__ import annotations

import html
from dataclasses import dataclass

import folium

# ColorBrewer Set1/Dark2-like: distinct on light basemaps and on none.
CATEGORY_COLOURS = (
    "#1b9e77",
    "#d95f02",
    "#7570b3",
    "#e7298a",
    "#66a61e",
    "#e6ab02",
    "#a6761d",
    "#1f78b4",
    "#b15928",
    "#6a3d9a",
    "#33a02c",
    "#fb9a99",
)
DISTRICT_COLOURS = ("#2166ac", "#d6604d", "#1a9850", "#8073ac", "#e08214", "#35978f")
PROBLEM_COLOUR = "#d7191c"


def colour_for(code: str | None) -> str:
    """A stable category colour for a code; neighbouring serials get different colours."""
    if not code:
        return "#444444"
    # Community and grid serials together, so the 001 grids of neighbouring communities differ.
    digits = code[-6:]
    key = int(digits) * 5 if digits.isdigit() else sum(map(ord, code))
    return CATEGORY_COLOURS[key % len(CATEGORY_COLOURS)]


@dataclass(frozen=True)
class LegendItem:
    """One legend row: a swatch (fill, border, dashed?) and its label."""

    label: str
    fill: str = "transparent"
    border: str = "#333333"
    dashed: bool = False
    round: bool = False


def add_legend(
    fmap: folium.Map,
    *,
    title: str,
    items: list[LegendItem],
    note: str = "",
    status: str | None = None,
) -> None:
    """A fixed legend box (class ``gp-legend``) in the bottom-right corner of ``fmap``;
    ``status`` is a line (``.gp-status``) a script may update once late data arrives."""
    rows = []
    for item in items:
        radius = "50%" if item.round else "2px"
        style = "dashed" if item.dashed else "solid"
        rows.append(
            '<div style="display:flex;align-items:center;gap:6px;margin:2px 0">'
            f'<span style="display:inline-block;width:16px;height:12px;background:{item.fill};'
            f'border:2px {style} {item.border};border-radius:{radius}"></span>'
            f"<span>{html.escape(item.label)}</span></div>"
        )
    note_html = f'<div style="margin-top:4px;color:#555">{html.escape(note)}</div>' if note else ""
    if status is not None:
        note_html += f'<div class="gp-status" style="color:#555">{html.escape(status)}</div>'
    root = fmap.get_root()
    assert isinstance(root, folium.Figure)
    root.html.add_child(
        folium.Element(
            '<div class="gp-legend" style="position:fixed;bottom:28px;right:10px;z-index:1000;'
            "background:rgba(255,255,255,.93);padding:8px 10px;border-radius:4px;"
            'box-shadow:0 1px 4px rgba(0,0,0,.35);font-size:12px;max-width:260px">'
            f'<div style="font-weight:600;margin-bottom:4px">{html.escape(title)}</div>'
            + "".join(rows)
            + note_html
            + "</div>"
        )
    )
