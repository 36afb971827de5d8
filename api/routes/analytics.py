"""``GET /analytics/hotspots``: Gi* hot and cold spots of reports as GeoJSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import require
from api.deps import CategoriesDep, ConnDep, WindowDep
from api.schemas.analytics import HotspotCollection
from api.schemas.common import COMMON_ERRORS, error_responses
from gis.access.policy import Permission
from gis.analysis.hotspots import (
    DEFAULT_PERMUTATIONS,
    DEFAULT_UNIT,
    find_hotspots,
    hotspots_geojson,
)

router = APIRouter(tags=["analytics"], responses=error_responses(*COMMON_ERRORS))


def hotspot_params(
    cats: CategoriesDep,
    window: WindowDep,
    unit: Annotated[str, Query(description="hex (default) or grid (Queen contiguity)")] = (
        DEFAULT_UNIT
    ),
    size_m: Annotated[
        float | None, Query(description="hexagon edge length in metres (unit=hex; default 200)")
    ] = None,
    category: Annotated[
        list[str] | None,
        Query(description="category code; repeat or comma-separate for several; default all"),
    ] = None,
    permutations: Annotated[int, Query(description="permutations for p-values")] = (
        DEFAULT_PERMUTATIONS
    ),
) -> dict[str, Any]:
    """The analysis options; the domain function checks them and names a bad one (422)."""
    codes = [c.strip() for value in category or [] for c in value.split(",") if c.strip()]
    return {
        "categories": cats,
        "unit": unit,
        "size_m": size_m,
        "category_codes": codes,
        "since": window.since,
        "until": window.until,
        "permutations": permutations,
    }


HotspotParams = Annotated[dict[str, Any], Depends(hotspot_params)]


@router.get(
    "/analytics/hotspots",
    response_model=HotspotCollection,
    dependencies=[require(Permission.READ_ANALYTICS)],
)
def hotspots(conn: ConnDep, params: HotspotParams) -> Any:
    """Units with report count, Gi* z, permutation p, FDR-adjusted p and bin (+-3..0)."""
    return hotspots_geojson(find_hotspots(conn, **params))
