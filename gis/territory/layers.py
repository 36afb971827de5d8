"""What each map layer is, and the SQL that lists its features as GeoJSON.

Listing is bbox-filtered (GiST ``&&`` then ``ST_Intersects``) and paged, and the GeoJSON is built
by PostGIS so a page of a million-building table costs one indexed query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, text

from gis.core.errors import InvalidBBox, InvalidInput, NotFound
from gis.core.vocabulary import PARENT_LEVEL, TABLE_LEVEL, Level

GeometryKind = Literal["polygon", "point", "line"]
BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class Layer:
    """A stored layer: its table, geometry kind, code rules and the columns users see."""

    name: str
    geometry: GeometryKind
    # Properties shown in GeoJSON, in order; SQL expressions keyed by output name.
    properties: dict[str, str]
    key: str = "code"
    # Columns a file may carry besides the key (name -> SQL type).
    columns: dict[str, str] = field(default_factory=dict)
    required: tuple[str, ...] = ()

    @property
    def table(self) -> str:
        return self.name

    @property
    def parent(self) -> Level | None:
        """The level of a hierarchy layer's parent, which its code prefix names."""
        level = TABLE_LEVEL.get(self.name)
        return PARENT_LEVEL.get(level) if level is not None else None


_AREA = "round(ST_Area(geom::geography)::numeric, 1)"

# In import order, parents first (a city directory loads its files in this order).
LAYERS: dict[str, Layer] = {
    layer.name: layer
    for layer in (
        Layer(
            name="districts",
            geometry="polygon",
            properties={"code": "code", "name": "name", "area_m2": _AREA},
            columns={"name": "text"},
            required=("name",),
        ),
        Layer(
            name="subdistricts",
            geometry="polygon",
            properties={
                "code": "code",
                "name": "name",
                "district_code": "district_code",
                "area_m2": _AREA,
            },
            columns={"name": "text"},
            required=("name",),
        ),
        Layer(
            name="communities",
            geometry="polygon",
            properties={
                "code": "code",
                "name": "name",
                "subdistrict_code": "subdistrict_code",
                "area_m2": _AREA,
            },
            columns={"name": "text"},
            required=("name",),
        ),
        Layer(
            name="grids",
            geometry="polygon",
            properties={
                "code": "code",
                "name": "name",
                "community_code": "community_code",
                "area_m2": _AREA,
            },
            columns={"name": "text"},
            required=("name",),
        ),
        Layer(
            name="buildings",
            geometry="polygon",
            properties={
                "code": "code",
                "name": "name",
                "floors": "floors",
                "households": "households",
                "residents": "residents",
                "grid_code": "grid_code",
                "grid_share": "round(grid_share::numeric, 4)",
            },
            columns={
                "name": "text",
                "floors": "integer",
                "households": "integer",
                "residents": "integer",
            },
        ),
        Layer(
            name="facilities",
            geometry="point",
            properties={"code": "code", "kind": "kind", "name": "name", "grid_code": "grid_code"},
            columns={"kind": "text", "name": "text"},
            required=("kind",),
        ),
        Layer(
            name="roads",
            geometry="line",
            properties={
                "id": "id",
                "name": "name",
                "oneway": "oneway",
                "length_m": "round(length_m::numeric, 1)",
            },
            key="geom_hash",
            # oneway: yes/true/1 (the line's direction), -1 (against it), no/false/0/empty;
            # bridge/tunnel: yes/true/1 (or a kind, e.g. viaduct) or no/false/0/empty; layer:
            # the grade, a whole number (OSM's -5..5). Read for --node-crossings.
            columns={
                "name": "text",
                "oneway": "text",
                "bridge": "text",
                "tunnel": "text",
                "layer": "text",
            },
        ),
    )
}

# Features per page of a list when the caller does not say (the API's ``limit`` default).
DEFAULT_PAGE_SIZE = 100


def database_is_empty(conn: Connection) -> bool:
    """True when no district has been loaded yet: there is no territory to check, map or
    patrol (``serve`` then loads the demo city; ``validate`` and the maps say so)."""
    return conn.execute(text("SELECT NOT EXISTS (SELECT 1 FROM districts)")).scalar_one() is True


def get_layer(name: str) -> Layer:
    """The layer called ``name``; ``InvalidInput`` listing the known ones otherwise."""
    try:
        return LAYERS[name]
    except KeyError:
        raise InvalidInput(
            f"unknown layer {name!r}; expected one of: {', '.join(LAYERS)}"
        ) from None


# The numbers a bbox takes: plain decimals ("104.05", "-0.5"; no exponent, sign "+" or
# leading zeros), each within its range. The OpenAPI document gives this pattern, so clients
# see exactly what is accepted; the order (min <= max) it cannot say, and its description does.
LON_PATTERN = r"-?(180(\.0+)?|(1[0-7][0-9]|[1-9]?[0-9])(\.[0-9]+)?)"
LAT_PATTERN = r"-?(90(\.0+)?|[1-8]?[0-9](\.[0-9]+)?)"
DECIMAL_PATTERN = r"-?[0-9]+(\.[0-9]+)?"
BBOX_PATTERN = f"^{LON_PATTERN},{LAT_PATTERN},{LON_PATTERN},{LAT_PATTERN}$"
# As a query parameter: empty means no bbox.
BBOX_QUERY_PATTERN = f"^({LON_PATTERN},{LAT_PATTERN},{LON_PATTERN},{LAT_PATTERN})?$"
BBOX_DESCRIPTION = (
    "minx,miny,maxx,maxy in EPSG:4326 degrees (longitude, latitude), plain decimals; "
    "min must not exceed max (no box across the antimeridian)"
)


def parse_bbox(value: str | None) -> BBox | None:
    """Parse ``minx,miny,maxx,maxy`` (EPSG:4326 degrees, as ``BBOX_PATTERN`` and in order)."""
    if value is None or value == "":
        return None
    parts = value.split(",")
    if len(parts) != 4:
        raise InvalidBBox(f"bbox must be minx,miny,maxx,maxy (4 numbers), got {value!r}")
    if not all(re.fullmatch(DECIMAL_PATTERN, part) for part in parts):
        raise InvalidBBox(f"bbox must hold numbers (plain decimals such as 104.05), got {value!r}")
    minx, miny, maxx, maxy = (float(p) for p in parts)
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180):
        raise InvalidBBox(f"bbox longitudes must lie in [-180, 180], got {value!r}")
    if not (-90 <= miny <= 90 and -90 <= maxy <= 90):
        raise InvalidBBox(f"bbox latitudes must lie in [-90, 90], got {value!r}")
    if not re.fullmatch(BBOX_PATTERN, value):
        raise InvalidBBox(f"bbox numbers must be written without leading zeros, got {value!r}")
    if minx > maxx or miny > maxy:
        raise InvalidBBox(f"bbox min must not exceed max, got {value!r}")
    return (minx, miny, maxx, maxy)


def _feature_sql(layer: Layer, where: str, precision: int = 7) -> str:
    props = ", ".join(f"'{out}', {expr}" for out, expr in layer.properties.items())
    feature_id = "code" if layer.key == "code" else "id"
    return f"""
        SELECT json_build_object(
            'type', 'Feature',
            'id', {feature_id},
            'geometry', ST_AsGeoJSON(geom, {precision})::json,
            'properties', json_build_object({props})
        ) AS feature
        FROM {layer.table}
        {where}
    """


_ENVELOPE = "ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326)"


def bbox_filter(bbox: BBox | None, *, column: str = "geom") -> tuple[str, dict[str, Any]]:
    """An SQL condition keeping rows whose ``column`` meets ``bbox``, and its parameters.

    ``&&`` lets the GiST index pick the candidates, ``ST_Intersects`` confirms each; without a
    bbox the condition is ``TRUE``.
    """
    if bbox is None:
        return "TRUE", {}
    condition = f"({column} && {_ENVELOPE} AND ST_Intersects({column}, {_ENVELOPE}))"
    return condition, dict(zip(("minx", "miny", "maxx", "maxy"), bbox, strict=True))


def check_page(limit: int, offset: int) -> None:
    """``InvalidInput`` for a page that cannot be: no rows asked for, or before the first."""
    if limit < 1:
        raise InvalidInput("limit must be at least 1")
    if offset < 0:
        raise InvalidInput("offset must not be negative")


def list_features(
    conn: Connection,
    *,
    layer: str,
    bbox: BBox | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    offset: int = 0,
) -> dict[str, Any]:
    """A page of ``layer`` as a GeoJSON FeatureCollection with the total match count."""
    spec = get_layer(layer)
    check_page(limit, offset)
    condition, params = bbox_filter(bbox)
    where = f"WHERE {condition}"
    order = "code" if spec.key == "code" else "id"
    rows = (
        conn.execute(
            text(_feature_sql(spec, where) + f" ORDER BY {order} LIMIT :limit OFFSET :offset"),
            params | {"limit": limit, "offset": offset},
        )
        .scalars()
        .all()
    )
    total = conn.execute(text(f"SELECT count(*) FROM {spec.table} {where}"), params).scalar_one()
    return {
        "type": "FeatureCollection",
        "features": list(rows),
        "numberMatched": int(total),
        "numberReturned": len(rows),
        "limit": limit,
        "offset": offset,
    }


def get_feature(conn: Connection, *, layer: str, code: str) -> dict[str, Any]:
    """One feature of ``layer`` by its code; ``NotFound`` when there is none."""
    spec = get_layer(layer)
    row = conn.execute(
        text(_feature_sql(spec, "WHERE code = :code")), {"code": code}
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(
            f"no {layer[:-1] if layer != 'facilities' else 'facility'} with code {code!r}"
        )
    return dict(row)
