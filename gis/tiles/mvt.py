"""Mapbox Vector Tiles from PostGIS: one ``ST_AsMVT`` query per tile, and TileJSON.

Tiles are in Web Mercator (EPSG:3857) on the XYZ scheme (y from the north). Each tile is one
statement: rows are found on the GiST index of ``geom`` (EPSG:4326) with the tile envelope
transformed to 4326 and widened by the buffer, simplified to about one pixel of a 512 px tile
(``ST_Simplify`` in metres of 3857, collapsed features kept), then clipped and quantised by
``ST_AsMVTGeom`` to a 4096 extent with a 64-unit buffer. Layers with labels add a second
layer of label points (``ST_PointOnSurface``) with a wider buffer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, TextClause, text

from gis.core.db import AsyncPool, fetch_row, pyformat
from gis.core.errors import InvalidParameter
from gis.tiles.extent import layer_extent
from gis.tiles.registry import PublishedLayer
from gis.tiles.versions import ETAG_SQL, etag_params, known_etags

MAX_ZOOM = 22
EXTENT = 4096
BUFFER = 64
# Label points reach further: a label is drawn whole by every tile its text overlaps.
LABEL_BUFFER = 512
# Half the Web Mercator world width, metres.
HALF_WORLD_M = 20037508.342789244
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"


def check_tile(z: int, x: int, y: int) -> None:
    """Raise ``InvalidParameter`` naming the coordinate that lies outside the XYZ pyramid."""
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidParameter(f"z: zoom must lie in 0..{MAX_ZOOM}, got {z}")
    last = 2**z - 1
    if not 0 <= x <= last:
        raise InvalidParameter(f"x: at zoom {z} x must lie in 0..{last}, got {x}")
    if not 0 <= y <= last:
        raise InvalidParameter(f"y: at zoom {z} y must lie in 0..{last}, got {y}")


def simplify_tolerance_m(z: int) -> float:
    """One pixel of a 512 px tile at zoom ``z``, in metres of EPSG:3857."""
    return 2 * HALF_WORLD_M / float(2**z) / 512


def tile_sql(layer: PublishedLayer) -> str:
    """The one statement that makes a tile of ``layer`` (parameters ``z``, ``x``, ``y``,
    ``margin``, ``tolerance_m`` and, for a layer kept to scopes, ``scopes``)."""
    geom = "ST_Transform(t.geom, 3857)"
    if layer.simplify and layer.geometry_type != "Point":
        geom = f"ST_Simplify({geom}, :tolerance_m, true)"
    props = "".join(
        f", {prop.sql} AS {name}" for name, prop in layer.properties.items() if prop.tile
    )
    where = f" AND ({layer.where})" if layer.where else ""
    if layer.scope:
        where += f" AND (CAST(:scopes AS text[]) IS NULL OR {layer.scope})"
    mvt = f"""(SELECT ST_AsMVT(features.*, '{layer.name}', {EXTENT}, 'geom', 'fid')
            FROM features WHERE geom IS NOT NULL)"""
    labels = ""
    if layer.labels:
        label_props = "".join(f", {layer.properties[name].sql} AS {name}" for name in layer.labels)
        labels = f""", labels AS (
            SELECT ST_AsMVTGeom(ST_Transform(ST_PointOnSurface(t.geom), 3857), env.tile,
                                {EXTENT}, {LABEL_BUFFER}, true) AS geom,
                   {layer.tile_id} AS fid{label_props}
            FROM env, {layer.table} t
            WHERE :z >= {layer.labels_minzoom} AND t.geom && env.label_box{where}
        )"""
        # Two layers in one tile: MVT layers are concatenated protobuf messages.
        mvt += f""" || (SELECT ST_AsMVT(labels.*, '{layer.name}_labels', {EXTENT}, 'geom', 'fid')
            FROM labels WHERE geom IS NOT NULL)"""
    return f"""
        WITH env AS (
            SELECT ST_TileEnvelope(:z, :x, :y) AS tile,
                   ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :margin), 4326) AS box,
                   ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :label_margin), 4326)
                       AS label_box
        ), features AS (
            SELECT ST_AsMVTGeom({geom}, env.tile, {EXTENT}, {BUFFER}, true) AS geom,
                   {layer.tile_id} AS fid{props}
            FROM env, {layer.table} t {layer.joins}
            WHERE t.geom && env.box{where}
        ){labels}
        SELECT {mvt}
    """


def tile_params(z: int, x: int, y: int, *, scopes: Sequence[str] | None = None) -> dict[str, Any]:
    """Bind parameters of :func:`tile_sql` for tile ``z/x/y`` (``scopes``: the unit-code
    prefixes a layer kept to scopes shows; None, everything)."""
    return {
        "scopes": None if scopes is None else list(scopes),
        "z": z,
        "x": x,
        "y": y,
        "margin": BUFFER / EXTENT,
        "label_margin": LABEL_BUFFER / EXTENT,
        "tolerance_m": simplify_tolerance_m(z),
    }


_statements: dict[str, TextClause] = {}


def render_tile(
    conn: Connection,
    layer: PublishedLayer,
    *,
    z: int,
    x: int,
    y: int,
    scopes: Sequence[str] | None = None,
) -> bytes:
    """The MVT bytes of tile ``z/x/y`` of ``layer`` (as ``scopes`` see it); empty when nothing
    is in it (or the zoom is below the layer's ``minzoom``)."""
    check_tile(z, x, y)
    if z < layer.minzoom:
        return b""
    statement = _statements.get(layer.name)
    if statement is None:
        statement = _statements[layer.name] = text(tile_sql(layer))
    data = conn.execute(statement, tile_params(z, x, y, scopes=scopes)).scalar_one()
    return bytes(data) if data is not None else b""


@dataclass(frozen=True)
class TileRead:
    """A tile as served: its ETag (quoted), and its bytes (``None``: the client's copy with
    that ETag is current; ``b""``: the tile is empty)."""

    etag: str
    data: bytes | None


# The statement serving a tile of each layer, above and below its minzoom.
_served: dict[tuple[str, bool], str] = {}


def served_sql(layer: PublishedLayer, *, below_minzoom: bool) -> str:
    """The statement serving a tile of ``layer`` (``%(name)s`` parameters): the layer's ETag
    and, unless the client's copy is current, the tile (``''``: empty, NULL: not made)."""
    key = (layer.name, below_minzoom)
    statement = _served.get(key)
    if statement is None:
        tile = "NULL::bytea" if below_minzoom else f"({tile_sql(layer)})"
        # OFFSET 0 keeps the planner from pulling the subquery up into both uses of ``tag``,
        # which made PostgreSQL compute the ETag twice.
        sql = (
            f"SELECT tag, CASE WHEN tag = ANY(CAST(:known AS text[])) OR '*' = ANY(CAST(:known "
            f"AS text[])) THEN NULL ELSE COALESCE({tile}, ''::bytea) END "
            f"FROM (SELECT {ETAG_SQL} AS tag OFFSET 0) v"
        )
        statement = _served[key] = pyformat(sql)
    return statement


async def read_tile(
    pool: AsyncPool,
    layer: PublishedLayer,
    *,
    z: int,
    x: int,
    y: int,
    if_none_match: str | None = None,
    salt: str = "",
    scopes: Sequence[str] | None = None,
) -> TileRead:
    """Tile ``z/x/y`` of ``layer`` with its ETag, in one statement: the version is read in
    the same snapshot as the data, and the tile is not made when ``if_none_match`` names the
    current ETag. A layer kept to scopes shows what ``scopes`` reach, and its ETag says
    which scopes it was made for."""
    check_tile(z, x, y)
    below = z < layer.minzoom
    if layer.scope:
        salt += "|scopes=" + ("*" if scopes is None else ",".join(scopes))
    params = etag_params(layer, salt=salt) | {"known": known_etags(if_none_match)}
    if not below:
        params |= tile_params(z, x, y, scopes=scopes)
    tag, data = await fetch_row(pool, served_sql(layer, below_minzoom=below), params)
    return TileRead(etag=f'"{tag}"', data=data)


def tilejson(conn: Connection, layer: PublishedLayer, *, tile_url: str) -> dict[str, Any]:
    """TileJSON 3.0.0 of ``layer`` with ``tile_url`` (``…/{z}/{x}/{y}.mvt``) as its tiles."""
    extent = layer_extent(conn, layer)
    bounds = list(extent.bbox) if extent.bbox else [-180.0, -85.0511, 180.0, 85.0511]
    centre_zoom = _fitting_zoom(bounds)
    fields = {name: prop.type for name, prop in layer.properties.items() if prop.tile}
    return {
        "tilejson": "3.0.0",
        "name": layer.name,
        "description": layer.description,
        "version": "1.0.0",
        "scheme": "xyz",
        "tiles": [tile_url],
        "minzoom": layer.minzoom,
        "maxzoom": layer.maxzoom,
        "bounds": bounds,
        "center": [
            (bounds[0] + bounds[2]) / 2,
            (bounds[1] + bounds[3]) / 2,
            max(layer.minzoom, min(layer.maxzoom, centre_zoom)),
        ],
        "vector_layers": [
            {
                "id": layer.name,
                "description": layer.title,
                "minzoom": layer.minzoom,
                "maxzoom": layer.maxzoom,
                "fields": fields,
            },
            *(
                [
                    {
                        "id": f"{layer.name}_labels",
                        "description": f"{layer.title}: label points",
                        "minzoom": max(layer.minzoom, layer.labels_minzoom),
                        "maxzoom": layer.maxzoom,
                        "fields": {name: layer.properties[name].type for name in layer.labels},
                    }
                ]
                if layer.labels
                else []
            ),
        ],
    }


def _fitting_zoom(bounds: list[float]) -> int:
    """The largest zoom at which ``bounds`` fits in about four 256 px tiles across."""
    span = max(bounds[2] - bounds[0], 1e-9)
    return max(0, min(MAX_ZOOM, math.floor(math.log2(360.0 * 4 / span))))
