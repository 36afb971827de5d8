"""OGC API - Features under ``/ogc``: landing page, conformance, collections and items.

Parameters the standard does not define for an endpoint, and malformed values, answer 400.
Items are ``application/geo+json``, built as text by PostGIS (see ``gis.ogc.features``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from api.auth import PrincipalDep, access_to, require
from api.deps import BIGINT_MAX, PUBLIC_CORS, ConnDep, PageOffset, base_url
from api.errors import BadRequestRoute
from api.schemas.common import error_responses, media_response
from api.schemas.ogc import Collection, Collections, Conformance, Items, ItemWithLinks, LandingPage
from gis.access.policy import Permission, Principal, allows
from gis.core.errors import InvalidParameter
from gis.ogc.features import (
    GEOJSON,
    JSON,
    collection,
    collections,
    conformance,
    get_collection_layer,
    landing_page,
    read_item,
    read_items,
)
from gis.ogc.params import (
    DATETIME_PATTERN,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    OGC_BBOX_PATTERN,
    check_limit,
    check_offset,
    parse_datetime,
    parse_ogc_bbox,
)
from gis.tiles.registry import PUBLISHED, PublishedLayer
from gis.tiles.versions import etag_matches, layer_etag

Scopes = tuple[str, ...] | None

# OGC API Features answers a bad parameter with 400 (the standard's requirement).
router = APIRouter(
    prefix="/ogc",
    tags=["OGC API Features"],
    route_class=BadRequestRoute,
    dependencies=[require(Permission.READ_PUBLIC)],
    responses=error_responses(400, 401, 403, 404, 413, 503),
)

_JSON_FORMATS = ("json", "geojson", JSON, GEOJSON)


def _only(*names: str) -> Any:
    """A dependency refusing query parameters other than ``names`` and ``f`` (400)."""
    allowed = {*names, "f"}

    async def check(request: Request) -> None:
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise InvalidParameter(
                f"{unknown[0]}: not a parameter of this endpoint; it takes "
                f"{', '.join(sorted(allowed))}"
            )
        fmt = request.query_params.get("f")
        if fmt is not None and fmt not in _JSON_FORMATS:
            raise InvalidParameter(f"f: only json (GeoJSON for items) is offered, got {fmt!r}")

    return Depends(check)


def _json(
    document: dict[str, Any], media_type: str = JSON, *, public: bool = True, **headers: str
) -> Response:
    return Response(
        content=json.dumps(document, ensure_ascii=False),
        media_type=media_type,
        headers=_headers(public) | headers,
    )


def _headers(public: bool) -> dict[str, str]:
    """Public data: any origin may read it; a layer read per account: no shared cache."""
    return (
        PUBLIC_CORS if public else {"Cache-Control": "private, no-cache", "Vary": "Authorization"}
    )


def _layer(collection_id: str, principal: Principal) -> tuple[PublishedLayer, Scopes]:
    """The collection's layer once the principal may read it, and the scopes it keeps to."""
    layer = get_collection_layer(collection_id)
    if layer.public:
        return layer, None
    return layer, access_to(principal, layer.permission).scopes


@router.get("", response_model=LandingPage, dependencies=[_only()])
def ogc_landing_page(request: Request) -> Response:
    """Links to the API definition, the conformance classes and the collections."""
    return _json(landing_page(base_url(request)))


@router.get("/conformance", response_model=Conformance, dependencies=[_only()])
def ogc_conformance() -> Response:
    """The conformance classes implemented: Core and GeoJSON."""
    return _json(conformance())


@router.get("/collections", response_model=Collections, dependencies=[_only()])
def ogc_collections(request: Request, conn: ConnDep, principal: PrincipalDep) -> Response:
    """Every collection the caller may read, with its extent (CRS84; report time for
    reports) and links."""
    shown = [layer for layer in PUBLISHED.values() if allows(principal, layer.permission)]
    public = all(layer.public for layer in shown)
    return _json(collections(conn, base_url=base_url(request), layers=shown), public=public)


@router.get("/collections/{collection_id}", response_model=Collection, dependencies=[_only()])
def ogc_collection(
    request: Request, conn: ConnDep, principal: PrincipalDep, collection_id: str
) -> Response:
    """One collection's metadata."""
    layer, _ = _layer(collection_id, principal)
    return _json(collection(conn, layer, base_url=base_url(request)), public=layer.public)


def _page_url(request: Request, offset: int, limit: int) -> str:
    return str(request.url.include_query_params(offset=offset, limit=limit))


@router.get(
    "/collections/{collection_id}/items",
    response_model=Items,
    responses={200: media_response(GEOJSON, Items), 304: {"description": "Not modified"}},
    dependencies=[_only("bbox", "datetime", "limit", "offset")],
)
def ogc_items(
    request: Request,
    conn: ConnDep,
    principal: PrincipalDep,
    collection_id: str,
    bbox: Annotated[
        str | None,
        Query(
            description="minx,miny,maxx,maxy in CRS84 (longitude, latitude), or with heights "
            "minx,miny,minz,maxx,maxy,maxz; plain decimals; min must not exceed max",
            json_schema_extra={"pattern": OGC_BBOX_PATTERN},
        ),
    ] = None,
    datetime_: Annotated[
        str | None,
        Query(
            alias="datetime",
            description="RFC 3339 instant or interval (start/end, '..' for open) on the "
            "report time; report collections only; a date that exists, the start not after the "
            "end",
            json_schema_extra={"pattern": DATETIME_PATTERN},
        ),
    ] = None,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=BIGINT_MAX,
            description=f"page size; above {MAX_LIMIT:,} the maximum is used",
        ),
    ] = DEFAULT_LIMIT,
    offset: PageOffset = 0,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """A page of features as GeoJSON, with ``numberMatched``, ``numberReturned`` and
    ``next``/``prev`` links. Patrol routes need an account allowed to read patrols, and show
    the plans of its units."""
    layer, scopes = _layer(collection_id, principal)
    box = parse_ogc_bbox(bbox)
    window = parse_datetime(datetime_)
    size = check_limit(limit)
    start = check_offset(offset)
    salt = str(request.url.query)
    if layer.scope:
        salt += "|scopes=" + ("*" if scopes is None else ",".join(scopes))
    etag = layer_etag(conn, layer, salt=salt)
    headers = _headers(layer.public)
    if etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers | {"ETag": etag})
    page = read_items(conn, layer, bbox=box, window=window, limit=size, offset=start, scopes=scopes)
    href = f"{base_url(request)}/ogc/collections/{layer.name}"
    links = [
        {"href": str(request.url), "rel": "self", "type": GEOJSON, "title": "this page"},
        {"href": href, "rel": "collection", "type": JSON, "title": layer.title},
    ]
    if start + page.number_returned < page.number_matched:
        links.append(
            {"href": _page_url(request, start + size, size), "rel": "next", "type": GEOJSON}
        )
    if start > 0:
        links.append(
            {"href": _page_url(request, max(0, start - size), size), "rel": "prev", "type": GEOJSON}
        )
    head = json.dumps(
        {
            "type": "FeatureCollection",
            "numberMatched": page.number_matched,
            "numberReturned": page.number_returned,
            "timeStamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "links": links,
        },
        ensure_ascii=False,
    )
    # The features are GeoJSON text from PostGIS: spliced in, never parsed here.
    body = f'{head[:-1]}, "features": [{page.features_json}]}}'
    return Response(content=body, media_type=GEOJSON, headers=headers | {"ETag": etag})


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    response_model=ItemWithLinks,
    responses={200: media_response(GEOJSON, ItemWithLinks)},
    dependencies=[_only()],
)
def ogc_item(
    request: Request, conn: ConnDep, principal: PrincipalDep, collection_id: str, feature_id: str
) -> Response:
    """One feature as GeoJSON, with links to itself and its collection."""
    layer, scopes = _layer(collection_id, principal)
    feature = json.loads(read_item(conn, layer, feature_id, scopes=scopes))
    href = f"{base_url(request)}/ogc/collections/{layer.name}"
    feature["links"] = [
        {"href": str(request.url), "rel": "self", "type": GEOJSON},
        {"href": href, "rel": "collection", "type": JSON, "title": layer.title},
    ]
    return _json(feature, GEOJSON, public=layer.public)
