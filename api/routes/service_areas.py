"""Service areas, the 15-minute life circle: walk areas, the buildings beyond the walk limit,
and where new facilities would bring the most residents within it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import require
from api.deps import BIGINT_MAX, BBoxDep, ConnDep, PageOffset, SettingsDep
from api.heavy import HeavyPoolDep, limit_anonymous_heavy
from api.schemas.common import COMMON_ERRORS, error_responses
from api.schemas.service_areas import GapsOut, SitingOut, SitingRequest, WalkAreaCollection
from gis.access.policy import Permission
from gis.service_areas.areas import walk_areas
from gis.service_areas.gaps import find_gaps
from gis.service_areas.siting import site_stations
from gis.service_areas.walk import (
    DEFAULT_KIND,
    DEFAULT_MINUTES,
    DEFAULT_WALK_SPEED_KMH,
    MAX_MINUTES,
    MAX_WALK_SPEED_KMH,
    MIN_WALK_SPEED_KMH,
)
from gis.territory.importing import FACILITY_KINDS

# Every answer here walks the whole street network (seconds on a city): a heavy request,
# rate-limited for anonymous clients (429) and computed in a slot of the server's bounded pool
# (503 with Retry-After when none is free), like the hotspots.
router = APIRouter(
    tags=["service areas"],
    responses=error_responses(*COMMON_ERRORS, 429),
    dependencies=[Depends(limit_anonymous_heavy)],
)


def walk_params(
    kind: Annotated[
        str,
        # Documented; the domain function checks it and names a bad value (422).
        Query(description="facility kind", json_schema_extra={"enum": list(FACILITY_KINDS)}),
    ] = DEFAULT_KIND,
    minutes: Annotated[
        float, Query(gt=0, le=MAX_MINUTES, description="the walk limit, minutes")
    ] = DEFAULT_MINUTES,
    walk_speed_kmh: Annotated[
        float,
        Query(ge=MIN_WALK_SPEED_KMH, le=MAX_WALK_SPEED_KMH, description="walking speed, km/h"),
    ] = DEFAULT_WALK_SPEED_KMH,
) -> dict[str, Any]:
    """The walk limit; the domain function checks it and names a bad value (422)."""
    return {"kind": kind, "minutes": minutes, "walk_speed_kmh": walk_speed_kmh}


WalkParams = Annotated[dict[str, Any], Depends(walk_params)]


@router.get(
    "/service-areas",
    response_model=WalkAreaCollection,
    dependencies=[require(Permission.READ_ANALYTICS)],
)
def service_areas(
    conn: ConnDep, params: WalkParams, pool: HeavyPoolDep, bbox: BBoxDep
) -> dict[str, Any]:
    """One feature per facility of ``kind``: the streets reachable within ``minutes`` of
    walking (partial streets included), buffered into an area, with the buildings and
    residents whose own walk to it is within the limit. ``bbox``: only the areas meeting it
    (what a map's view needs)."""
    with pool.slot("the walk areas"):
        areas = walk_areas(conn, **params, bbox=bbox)
    return {
        "type": "FeatureCollection",
        **params,
        "features": [
            {
                "type": "Feature",
                "id": area.code,
                "geometry": area.geometry,
                "properties": {
                    "code": area.code,
                    "name": area.name,
                    "district_code": area.district_code,
                    "street_m": area.street_m,
                    "buildings": area.buildings,
                    "residents": area.residents,
                },
            }
            for area in areas
        ],
    }


@router.get(
    "/service-areas/gaps",
    response_model=GapsOut,
    dependencies=[require(Permission.READ_ANALYTICS)],
)
def service_area_gaps(
    conn: ConnDep,
    settings: SettingsDep,
    params: WalkParams,
    pool: HeavyPoolDep,
    bbox: BBoxDep,
    limit: Annotated[
        int,
        Query(
            ge=1, le=BIGINT_MAX, description="rows of each list (at most GRIDPATROL_MAX_PAGE_SIZE)"
        ),
    ] = 1000,
    offset: PageOffset = 0,
) -> dict[str, Any]:
    """Every building beyond the walk limit from all facilities of ``kind`` (walk minutes to
    the nearest; null: not connected), totals per community and district, and the buildings
    whose nearest facility lies in another district. ``bbox``: the two lists hold only the
    buildings inside it (the totals stay the whole city's)."""
    with pool.slot("the walk gaps"):
        gaps = find_gaps(
            conn, **params, limit=min(limit, settings.max_page_size), offset=offset, bbox=bbox
        )
    return gaps.to_dict()


@router.post(
    "/service-areas/siting",
    response_model=SitingOut,
    dependencies=[require(Permission.READ_ANALYTICS)],
)
def service_area_siting(conn: ConnDep, body: SitingRequest, pool: HeavyPoolDep) -> dict[str, Any]:
    """The ``new_sites`` candidates that bring the most residents within the limit (maximum
    coverage solved exactly with HiGHS), residents covered before and after, per district,
    and the greedy baseline's coverage. Nothing is stored."""
    candidates: object = (
        body.candidates
        if isinstance(body.candidates, str)
        else [point.model_dump() for point in body.candidates]
    )
    with pool.slot("the siting"):
        return site_stations(
            conn,
            new_sites=body.new_sites,
            candidates=candidates,
            kind=body.kind,
            minutes=body.minutes,
            walk_speed_kmh=body.walk_speed_kmh,
        ).to_dict()
