"""OGC API - Features, Part 1 (Core + GeoJSON) over the published layers.

Documents are dictionaries ready for JSON; a page of items is built as GeoJSON text by
PostGIS (``ST_AsGeoJSON`` and ``json_build_object``, joined with ``string_agg``) so ten
thousand buildings cost one query and no per-feature Python. Paging is by ``offset`` in a
stable key order; the page's keys are found first (an index-only scan of the key even deep in
a million rows), then only those rows are read and encoded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from gis.core.errors import InvalidParameter, NotFound
from gis.ogc.params import TimeWindow
from gis.territory.layers import BBox, bbox_filter
from gis.tiles.extent import layer_extent
from gis.tiles.registry import PUBLISHED, PublishedLayer, get_published
from gis.tiles.versions import VersionedCache

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
# Only what is implemented: OpenAPI 3.0 is not claimed (FastAPI describes the API in 3.1).
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
)
GEOJSON = "application/geo+json"
JSON = "application/json"
# Coordinates to 1e-7 degrees (about a centimetre), as stored.
PRECISION = 7


def _link(href: str, rel: str, media_type: str, title: str | None = None) -> dict[str, Any]:
    link = {"href": href, "rel": rel, "type": media_type}
    if title:
        link["title"] = title
    return link


def landing_page(base_url: str) -> dict[str, Any]:
    """The ``/ogc`` landing page: where the API definition, conformance and data are."""
    ogc = f"{base_url}/ogc"
    return {
        "title": "gridpatrol",
        "description": (
            "Grids, buildings, facilities, roads and reports of grid-based community "
            "governance, as OGC API Features."
        ),
        "links": [
            _link(ogc, "self", JSON, "this document"),
            _link(
                f"{base_url}/openapi.json",
                "service-desc",
                "application/vnd.oai.openapi+json;version=3.1",
                "the API definition",
            ),
            _link(f"{base_url}/docs", "service-doc", "text/html", "the API documentation"),
            _link(f"{ogc}/conformance", "conformance", JSON, "conformance classes implemented"),
            _link(f"{ogc}/collections", "data", JSON, "the feature collections"),
        ],
    }


def conformance() -> dict[str, Any]:
    """The conformance classes this server implements."""
    return {"conformsTo": list(CONFORMANCE)}


def _iso(value: datetime | None) -> str | None:
    # In the zone the connection reads times in (GRIDPATROL_TIMEZONE): as on every route.
    return value.isoformat() if value else None


def collection(conn: Connection, layer: PublishedLayer, *, base_url: str) -> dict[str, Any]:
    """One collection's metadata: extent (CRS84 and, for reports, time), CRS and links."""
    extent = layer_extent(conn, layer)
    href = f"{base_url}/ogc/collections/{layer.name}"
    document: dict[str, Any] = {
        "id": layer.name,
        "title": layer.title,
        "description": layer.description,
        "itemType": "feature",
        "crs": [CRS84],
        "links": [
            _link(href, "self", JSON, layer.title),
            _link(f"{href}/items", "items", GEOJSON, f"{layer.title} as GeoJSON"),
        ],
        "extent": {
            "spatial": {
                "bbox": [list(extent.bbox) if extent.bbox else [-180.0, -90.0, 180.0, 90.0]],
                "crs": CRS84,
            }
        },
    }
    if layer.datetime:
        document["extent"]["temporal"] = {
            "interval": [[_iso(extent.start), _iso(extent.end)]],
            "trs": GREGORIAN,
        }
    if layer.tiles:
        document["links"].append(
            _link(
                f"{base_url}/tiles/{layer.name}.json",
                "describedby",
                JSON,
                "vector tiles of this collection (TileJSON)",
            )
        )
    return document


def collections(
    conn: Connection, *, base_url: str, layers: Iterable[PublishedLayer] | None = None
) -> dict[str, Any]:
    """The published ``layers`` (default: every one) as collections."""
    shown = PUBLISHED.values() if layers is None else layers
    return {
        "links": [_link(f"{base_url}/ogc/collections", "self", JSON, "the collections")],
        "collections": [collection(conn, layer, base_url=base_url) for layer in shown],
    }


def _feature_sql(layer: PublishedLayer) -> str:
    props = ", ".join(f"'{name}', {prop.sql}" for name, prop in layer.properties.items())
    return (
        f"json_build_object('type', 'Feature', 'id', {layer.feature_id}, "
        f"'geometry', ST_AsGeoJSON(t.geom, {PRECISION})::json, "
        f"'properties', json_build_object({props}))::text"
    )


def _scoped(layer: PublishedLayer, scopes: Sequence[str] | None) -> tuple[str, dict[str, Any]]:
    """The condition keeping a layer kept to scopes to ``scopes`` (None: everything)."""
    if not layer.scope or scopes is None:
        return "", {}
    return f"({layer.scope})", {"scopes": list(scopes)}


def _filters(
    layer: PublishedLayer,
    bbox: BBox | None,
    window: TimeWindow | None,
    scopes: Sequence[str] | None = None,
) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = [f"({layer.where})"] if layer.where else []
    scoped, params = _scoped(layer, scopes)
    if scoped:
        clauses.append(scoped)
    if bbox is not None:
        in_view, box = bbox_filter(bbox, column="t.geom")
        clauses.append(in_view)
        params |= box
    if window is not None:
        if layer.datetime is None:
            raise InvalidParameter(
                f"datetime: collection {layer.name!r} has no time; datetime filters the "
                "report collections by their report time"
            )
        if window.start is not None:
            clauses.append(f"{layer.datetime} >= :start")
            params["start"] = window.start
        if window.end is not None:
            clauses.append(f"{layer.datetime} <= :end")
            params["end"] = window.end
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


@dataclass(frozen=True)
class ItemsPage:
    """A page of features: their GeoJSON texts joined by commas, and the counts."""

    features_json: str
    number_matched: int
    number_returned: int


def read_items(
    conn: Connection,
    layer: PublishedLayer,
    *,
    bbox: BBox | None = None,
    window: TimeWindow | None = None,
    limit: int,
    offset: int,
    scopes: Sequence[str] | None = None,
) -> ItemsPage:
    """The features of ``layer`` matching ``bbox`` and ``window`` (and, for a layer kept to
    scopes, reached by ``scopes``), ``limit`` from ``offset`` in the layer's key order, with
    the number matched."""
    where, params = _filters(layer, bbox, window, scopes)
    key = layer.order_by.removeprefix("t.")
    row = conn.execute(
        text(
            f"""
            WITH page AS (
                SELECT t.{key} AS k FROM {layer.table} t {where}
                ORDER BY t.{key} LIMIT :limit OFFSET :offset
            )
            SELECT count(*), string_agg({_feature_sql(layer)}, ',' ORDER BY t.{key})
            FROM page JOIN {layer.table} t ON t.{key} = page.k {layer.joins}
            """
        ),
        params | {"limit": limit, "offset": offset},
    ).one()
    return ItemsPage(
        features_json=row[1] or "",
        number_matched=_count(conn, layer, where, params),
        number_returned=int(row[0]),
    )


# numberMatched of a filter, kept until the layer changes: paging through a million rows
# would otherwise count them all again for every page (~80 ms each).
# Bounded: bbox filters are endless.
_counts: VersionedCache[int] = VersionedCache(max_entries=10_000)


def _count(conn: Connection, layer: PublishedLayer, where: str, params: dict[str, Any]) -> int:
    return _counts.get(
        conn,
        sources=layer.sources,
        key=(layer.name, where, repr(sorted(params.items()))),
        compute=lambda: int(
            conn.execute(text(f"SELECT count(*) FROM {layer.table} t {where}"), params).scalar_one()
        ),
    )


def read_item(
    conn: Connection,
    layer: PublishedLayer,
    feature_id: str,
    *,
    scopes: Sequence[str] | None = None,
) -> str:
    """One feature of ``layer`` as GeoJSON text; ``NotFound`` when there is none (or, for a
    layer kept to scopes, when ``scopes`` do not reach it: out of scope is not there)."""
    lookup: str | int = feature_id
    if layer.feature_id_is_integer:
        if not feature_id.isdigit():
            raise NotFound(f"no feature {feature_id!r} in {layer.name}: ids there are integers")
        lookup = int(feature_id)
    where = f" AND ({layer.where})" if layer.where else ""
    scoped, params = _scoped(layer, scopes)
    if scoped:
        where += f" AND {scoped}"
    found = conn.execute(
        text(
            f"SELECT {_feature_sql(layer)} FROM {layer.table} t {layer.joins} "
            f"WHERE {layer.feature_id} = :id{where}"
        ),
        params | {"id": lookup},
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no feature {feature_id!r} in collection {layer.name}")
    return str(found)


def get_collection_layer(collection_id: str) -> PublishedLayer:
    """The layer behind ``/ogc/collections/{collection_id}`` (``NotFound`` otherwise)."""
    return get_published(collection_id)
