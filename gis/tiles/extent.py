"""Spatial and temporal extents of the published layers, cached per layer version.

``ST_Extent`` over a million footprints takes a few hundred milliseconds; the extent only
changes when the layer does, so it is kept per (database, layer, ETag) in this process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

from gis.core.versions import VersionedCache
from gis.tiles.registry import PublishedLayer

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class LayerExtent:
    """Bounding box in EPSG:4326 (``None`` when empty) and time span of the layer's rows."""

    bbox: BBox | None
    start: datetime | None = None
    end: datetime | None = None


_extents: VersionedCache[LayerExtent] = VersionedCache()


def layer_extent(conn: Connection, layer: PublishedLayer) -> LayerExtent:
    """The extent of ``layer``'s rows, recomputed only after the layer changed."""
    return _extents.get(
        conn, sources=layer.sources, key=layer.name, compute=lambda: _extent(conn, layer)
    )


def _extent(conn: Connection, layer: PublishedLayer) -> LayerExtent:
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
    return LayerExtent(
        bbox=None if row[0] is None else (row[0], row[1], row[2], row[3]),
        start=row[4],
        end=row[5],
    )
