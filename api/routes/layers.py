"""List endpoints of the stored layers, as GeoJSON FeatureCollections."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.auth import require
from api.deps import BBoxDep, ConnDep, SettingsDep
from api.schemas.common import COMMON_ERRORS, error_responses
from api.schemas.layers import LAYER_PAGES, GridFeature
from gis.access.policy import Permission
from gis.territory.layers import DEFAULT_PAGE_SIZE, LAYERS, get_feature, list_features

router = APIRouter(tags=["layers"], responses=error_responses(*COMMON_ERRORS))


def _register(layer: str) -> None:
    def list_layer(
        conn: ConnDep,
        settings: SettingsDep,
        bbox: BBoxDep,
        limit: Annotated[
            int, Query(ge=1, description="page size (at most GRIDPATROL_MAX_PAGE_SIZE)")
        ] = DEFAULT_PAGE_SIZE,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> Any:
        return list_features(
            conn, layer=layer, bbox=bbox, limit=min(limit, settings.max_page_size), offset=offset
        )

    list_layer.__doc__ = (
        f"The {layer} as a GeoJSON FeatureCollection, filtered by `bbox` and paged; "
        "`numberMatched` is the total."
    )
    router.add_api_route(
        f"/{layer}",
        list_layer,
        methods=["GET"],
        name=f"list_{layer}",
        response_model=LAYER_PAGES[layer],
        dependencies=[require(Permission.READ_PUBLIC)],
    )


for _layer in LAYERS:
    _register(_layer)


@router.get(
    "/grids/{code}",
    response_model=GridFeature,
    responses=error_responses(404),
    dependencies=[require(Permission.READ_PUBLIC)],
)
def get_grid(conn: ConnDep, code: str) -> Any:
    """One grid as a GeoJSON Feature."""
    return get_feature(conn, layer="grids", code=code)
