"""Vector layers on the Folium maps, drawn by Leaflet.VectorGrid (``maps/vector.js``).

A layer's features come either as vector tiles from a gridpatrol server (``/tiles/…``, the
served pages and standalone pages written with ``--server``; drawn at 512 px as vector maps
do, so a view needs a quarter of the requests and a tile's detail is one screen pixel) or as
GeoJSON inside the page,
which VectorGrid slices into tiles in the browser (standalone pages of small cities). Either
way one spec says how it looks: a Leaflet path style, the fill colour per code, tooltips,
popups, text labels at label points, an overdue ring.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import folium
from branca.element import Element, Figure
from folium.elements import JSCSSMixin
from folium.map import Layer
from jinja2 import Template

from maps.legend import CATEGORY_COLOURS

VECTORGRID_URL = (
    "https://cdn.jsdelivr.net/npm/leaflet.vectorgrid@1.3.0/dist/Leaflet.VectorGrid.bundled.min.js"
)
_RUNTIME = Path(__file__).with_name("vector.js")


@dataclass(frozen=True)
class TileSource:
    """A gridpatrol server the page loads vector tiles from; ``""`` is the page's own origin."""

    base_url: str = ""

    def tiles(self, layer: str) -> str:
        """The URL template of ``layer``'s tiles as ``maps/vector.js`` fills it: ``{tz}`` is
        the tile zoom, one less than the map's (tiles are drawn at 512 px)."""
        return f"{self.base_url.rstrip('/')}/tiles/{layer}/{{tz}}/{{x}}/{{y}}.mvt"

    def url(self, path: str) -> str:
        """An absolute (or same-origin) URL of ``path`` on the server."""
        return f"{self.base_url.rstrip('/')}{path}"


class _VectorElement(JSCSSMixin, Layer):
    """A layer needing VectorGrid and gridpatrol's runtime in the page header."""

    default_js = [("leaflet.vectorgrid", VECTORGRID_URL)]

    def render(self, **kwargs: Any) -> None:  # type: ignore[override]
        super().render(**kwargs)  # type: ignore[no-untyped-call]
        figure = self.get_root()
        assert isinstance(figure, Figure)
        # After VectorGrid's script: the runtime extends VectorGrid's SVG tile renderer.
        figure.header.add_child(
            Element(f"<script>{_RUNTIME.read_text(encoding='utf-8')}</script>"),
            name="gridpatrol_vector_runtime",
        )


class VectorLayer(_VectorElement):
    """One vector layer (tiles or sliced GeoJSON), listed in the layer control as ``name``."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = gridpatrolVector.layer(
            {{ this._parent.get_name() }}, {{ this.spec|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, spec: dict[str, Any], *, name: str, show: bool = True) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "VectorLayer"
        self.spec = spec


class StyledGeoJson(_VectorElement):
    """A small GeoJSON whose features carry ``style`` and ``label``: inline, or fetched from a
    URL after the map is drawn (slow analyses need not hold up the page). The collection's
    ``summary`` member, if any, replaces the text of the legend's ``.gp-status``."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.featureGroup();
        gridpatrolVector.styledGeoJson({{ this.get_name() }}, {{ this.source|tojson }},
            function (fc) {
                var status = document.querySelector('.gp-legend .gp-status');
                if (status && fc.summary) { status.textContent = fc.summary; }
            });
        {% endmacro %}
        """
    )

    def __init__(self, source: str | dict[str, Any], *, name: str) -> None:
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "StyledGeoJson"
        self.source = source


def vector_spec(
    layer: str,
    *,
    source: TileSource | dict[str, Any],
    style: dict[str, Any],
    fill_by: str | None = None,
    fill_lookup: dict[str, str] | None = None,
    stroke_like_fill: bool = False,
    tooltip: list[tuple[str, str]] | None = None,
    popup: list[tuple[str, str]] | None = None,
    highlight: dict[str, Any] | None = None,
    id_field: str = "code",
    labels: dict[str, Any] | None = None,
    label: dict[str, Any] | None = None,
    overdue: dict[str, Any] | None = None,
    class_name: str | None = None,
    class_by: str | None = None,
    min_zoom: int = 0,
) -> dict[str, Any]:
    """The spec ``maps/vector.js`` draws: ``source`` is a tile server or a FeatureCollection.

    ``style`` holds Leaflet path options; ``fill_by`` names the property whose value picks the
    fill (``fill_lookup`` or, without one, the palette of :func:`maps.legend.colour_for`);
    ``label`` (``{"field", "last", "minZoom"}``) writes text at the ``{layer}_labels`` points
    (in the tiles, or ``labels`` inline); ``overdue`` (``{"fields", "style"}``) restyles
    features whose deadline properties have passed in the viewer's clock.
    """
    spec: dict[str, Any] = {
        "layer": layer,
        "style": style,
        "palette": list(CATEGORY_COLOURS),
        "fillBy": fill_by,
        "fillLookup": fill_lookup,
        "strokeLikeFill": stroke_like_fill,
        "tooltip": tooltip,
        "popup": popup,
        "highlight": highlight,
        "idField": id_field,
        "label": label,
        "overdue": overdue,
        "className": class_name,
        "classBy": class_by,
        "minZoom": min_zoom,
    }
    if isinstance(source, TileSource):
        spec["url"] = source.tiles(layer)
    else:
        spec["data"] = source
        spec["labels"] = labels
    return spec


def add_vector_layer(fmap: folium.Map, spec: dict[str, Any], *, name: str) -> VectorLayer:
    """Add a vector layer drawn from ``spec`` (see :func:`vector_spec`) to ``fmap``."""
    layer = VectorLayer(spec, name=name)
    layer.add_to(fmap)
    return layer
