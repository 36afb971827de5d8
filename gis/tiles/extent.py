"""Spatial and temporal extents of the published layers, cached per layer version.

``ST_Extent`` over a million footprints takes a few hundred milliseconds; the extent only
changes when the layer does, so it is kept per (database, layer, ETag) in this process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from threading import Lock

from sqlalchemy import Connection, text

from gis.tiles.registry import PublishedLayer
from gis.tiles.versions import layer_etag

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class LayerExtent:
    """Bounding box in EPSG:4326 (``None`` when empty) and time span of the layer's rows."""

    bbox: BBox | None
    start: datetime | None = None
    end: datetime | None = None


_cache: dict[tuple[str, str], tuple[str, LayerExtent]] = {}
_lock = Lock()


def layer_extent(conn: Connection, layer: PublishedLayer) -> LayerExtent:
    """The extent of ``layer``'s rows, recomputed only after the layer changed."""
    key = (conn.engine.url.render_as_string(hide_password=True), layer.name)
    etag = layer_etag(conn, layer)
    with _lock:
        cached = _cache.get(key)
    if cached is not None and cached[0] == etag:
        return cached[1]
    where = f"WHERE {layer.where}" if layer.where else ""
    span = (
        f"min({layer.datetime}) AS s, max({layer.datetime}) AS u"
        if layer.datetime
        else "NULL::timestamptz AS s, NULL::timestamptz AS u"
    )
    row = conn.execute(
        text(
            f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), s, u FROM ("
            f"SELECT ST_Extent(t.geom)::geometry AS e, {span} FROM {layer.table} t {where}) x"
        )
    ).one()
    extent = LayerExtent(
        bbox=None if row[0] is None else (row[0], row[1], row[2], row[3]),
        start=row[4],
        end=row[5],
    )
    with _lock:
        _cache[key] = (etag, extent)
    return extent
