"""``GET /analytics/hotspots``: Gi* hot and cold spots of reports as GeoJSON."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from api.auth import require
from api.deps import CategoriesDep, ConnDep, WindowDep
from api.heavy import HeavyPoolDep, limit_anonymous_heavy
from api.schemas.analytics import HotspotCollection
from api.schemas.common import COMMON_ERRORS, error_responses
from gis.access.policy import Permission
from gis.analysis.hotspots import (
    DEFAULT_PERMUTATIONS,
    MAX_HEX_SIZE_M,
    MAX_PERMUTATIONS,
    MIN_HEX_SIZE_M,
    MIN_PERMUTATIONS,
    cached_hotspots,
    hotspots_geojson,
)

router = APIRouter(tags=["analytics"], responses=error_responses(*COMMON_ERRORS))


def hotspot_params(
    cats: CategoriesDep,
    window: WindowDep,
    unit: Annotated[
        Literal["hex", "grid"], Query(description="hex (default) or grid (Queen contiguity)")
    ] = "hex",
    size_m: Annotated[
        float | None,
        Query(
            ge=MIN_HEX_SIZE_M,
            le=MAX_HEX_SIZE_M,
            description="hexagon edge length in metres (unit=hex; default 200)",
        ),
    ] = None,
    category: Annotated[
        list[str] | None,
        Query(description="category code; repeat or comma-separate for several; default all"),
    ] = None,
    permutations: Annotated[
        int,
        Query(
            ge=MIN_PERMUTATIONS,
            le=MAX_PERMUTATIONS,
            description="permutations for p-values (permutations × units at most 2e8)",
        ),
    ] = DEFAULT_PERMUTATIONS,
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
    # Refused roles first, then the anonymous rate: both before a connection is taken.
    dependencies=[require(Permission.READ_ANALYTICS), Depends(limit_anonymous_heavy)],
    responses=error_responses(429),
)
def hotspots(conn: ConnDep, params: HotspotParams, pool: HeavyPoolDep) -> Any:
    """Units with report count, Gi* z, permutation p, FDR-adjusted p and bin (+-3..0).

    A heavy request: cached by its parameters and the data version; computing takes a slot of
    the server's bounded pool (503 with Retry-After when none is free), and anonymous clients
    are rate-limited (429)."""
    result = cached_hotspots(
        conn, slot=lambda: pool.slot("hotspots"), executor=pool.processes(), **params
    )
    return hotspots_geojson(result)
