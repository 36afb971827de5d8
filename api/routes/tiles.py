"""Vector tiles (MVT) of the published layers, their TileJSON, and an index of layers."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request, Response

from api.auth import PrincipalDep, access_to, require
from api.deps import PER_ACCOUNT, PUBLIC_CORS, ConnDep, base_url
from api.errors import BadRequestRoute
from api.lean import LeanRoute
from api.schemas.common import error_responses
from api.schemas.tiles import TileIndex, TileJSON
from gis.access.policy import Permission, allows
from gis.tiles.mvt import MAX_ZOOM, MEDIA_TYPE, check_tile, read_tile, tile_sql, tilejson
from gis.tiles.registry import PUBLISHED, PublishedLayer, get_published

# Tiles are public data; errors are 400 for a bad coordinate or parameter, as tile servers do.
router = APIRouter(
    prefix="/tiles",
    tags=["tiles"],
    route_class=BadRequestRoute,
    dependencies=[require(Permission.READ_PUBLIC)],
    responses=error_responses(400, 401, 403, 404, 413, 503),
)


def _cache_headers(layer: PublishedLayer, etag: str) -> dict[str, str]:
    if not layer.public:
        # Per account: never in a shared cache, never read by another origin's script.
        return PER_ACCOUNT | {"ETag": etag}
    policy = f"public, max-age={layer.max_age_s}" if layer.max_age_s > 0 else "no-cache"
    return PUBLIC_CORS | {"ETag": etag, "Cache-Control": policy}


def _tile_url(request: Request, layer: str) -> str:
    return f"{base_url(request)}/tiles/{layer}/{{z}}/{{x}}/{{y}}.mvt"


# Changes of the tile SQL (a new release) change every ETag.
_SQL_DIGEST = {
    name: hashlib.blake2s(tile_sql(layer).encode(), digest_size=6).hexdigest()
    for name, layer in PUBLISHED.items()
}


@router.get("", response_model=TileIndex)
async def list_tile_layers(request: Request, principal: PrincipalDep) -> dict[str, Any]:
    """Every tile layer the caller may read, with its TileJSON and tile URL template."""
    base = base_url(request)
    return {
        "layers": [
            {
                "name": name,
                "title": layer.title,
                "tilejson": f"{base}/tiles/{name}.json",
                "tiles": _tile_url(request, name),
            }
            for name, layer in PUBLISHED.items()
            if layer.tiles and allows(principal, layer.permission)
        ]
    }


async def get_tile(
    request: Request,
    principal: PrincipalDep,
    layer: Annotated[str, Path(description="tile layer, see GET /tiles")],
    # Documented bounds, checked by check_tile (400 naming the coordinate); what they cannot
    # say, the descriptions do: x and y lie below 2**z at zoom z.
    z: Annotated[
        int,
        Path(description="zoom", json_schema_extra={"minimum": 0, "maximum": MAX_ZOOM}),
    ],
    x: Annotated[
        int,
        Path(
            description="column, from the west: 0 to 2**z - 1",
            json_schema_extra={"minimum": 0, "maximum": 2**MAX_ZOOM - 1},
        ),
    ],
    y: Annotated[
        int,
        Path(
            description="row, from the north (XYZ): 0 to 2**z - 1",
            json_schema_extra={"minimum": 0, "maximum": 2**MAX_ZOOM - 1},
        ),
    ],
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """One vector tile of ``layer``: 204 when empty, 304 when the ETag still holds. Patrol
    routes need an account allowed to read patrols, and show the plans of its units."""
    check_tile(z, x, y)
    spec = get_published(layer, tiles=True)
    scopes = None if spec.public else access_to(principal, spec.permission).scopes
    tile = await read_tile(
        request.app.state.read_pool,
        spec,
        z=z,
        x=x,
        y=y,
        if_none_match=if_none_match,
        salt=_SQL_DIGEST[spec.name],
        scopes=scopes,
    )
    headers = _cache_headers(spec, tile.etag)
    if tile.data is None:
        return Response(status_code=304, headers=headers)
    if not tile.data:
        return Response(status_code=204, headers=headers)
    return Response(content=tile.data, media_type=MEDIA_TYPE, headers=headers)


router.add_api_route(
    "/{layer}/{z}/{x}/{y}.mvt",
    get_tile,
    methods=["GET"],
    response_class=Response,
    responses={
        200: {
            "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            "description": "A Mapbox Vector Tile (EPSG:3857, extent 4096) with one layer.",
        },
        204: {"description": "Nothing of the layer in this tile (or below its minzoom)."},
        304: {"description": "Not modified since the ETag in If-None-Match."},
    },
    # A map asks for dozens of tiles per view and most cost PostGIS under a millisecond:
    # the route runs its dependencies (principal, permission) without FastAPI's generic
    # handler (api/lean.py), and reads the tile on the event loop from the async pool.
    route_class_override=LeanRoute,
)


@router.get("/{layer}.json", response_model=TileJSON)
def get_tilejson(request: Request, conn: ConnDep, principal: PrincipalDep, layer: str) -> Response:
    """TileJSON 3.0.0 of ``layer``: tile URL, bounds, zoom range and attribute fields."""
    spec = get_published(layer, tiles=True)
    if not spec.public:
        access_to(principal, spec.permission)
    document = TileJSON.model_validate(tilejson(conn, spec, tile_url=_tile_url(request, layer)))
    return Response(
        content=document.model_dump_json(),
        media_type="application/json",
        headers=PUBLIC_CORS if spec.public else PER_ACCOUNT,
    )
