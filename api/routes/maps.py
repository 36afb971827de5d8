"""Map pages (HTML), drawn by Folium with every asset served by gridpatrol itself."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, JSONResponse

from api.auth import require
from api.deps import BIGINT_MAX, NAIVE_TIME, PUBLIC_CORS, BBoxDep, ConnDep, SettingsDep
from api.heavy import HeavyPoolDep, limit_anonymous_heavy
from api.routes.analytics import HotspotParams
from api.routes.patrols import plan_query_scope
from api.routes.service_areas import WalkParams
from api.schemas.common import COMMON_ERRORS, error_responses, media_response
from api.schemas.households import CareVisitFeatures
from api.schemas.tiles import ProblemFeatures
from gis.access.policy import Access, Permission, authorize
from gis.core.settings import Settings
from gis.core.timewindow import resolve_window
from gis.patrols.coverage import CoverageSource
from gis.service_areas.siting import MAX_NEW_SITES
from maps.assets import check_installed, content_security_policy, render
from maps.care import CARE_VISITS_PATH
from maps.pages import (
    care_visit_map,
    coverage_page,
    grid_problems,
    grids_page,
    hotspots_page,
    patrols_page,
)
from maps.service_areas import service_areas_page
from maps.vector import TileSource

# Served pages load tiles and overlays from the server that served them.
SAME_ORIGIN = TileSource("")

# Every page answers text/html; errors are JSON (503 names the fix when the map assets are
# missing). Each page shows public data only: reports in their public view.
_PAGE: dict[int | str, Any] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "the page"},
}

router = APIRouter(
    tags=["maps"],
    default_response_class=HTMLResponse,
    responses=error_responses(*COMMON_ERRORS),
)

# Pages that compute (drawn from the whole city): heavy requests, rate-limited for anonymous
# clients (429) and built in a slot of the server's bounded pool (503 when none is free).
_HEAVY = Depends(limit_anonymous_heavy)
_HEAVY_ERRORS = error_responses(429)


def _page(html: str, settings: Settings) -> HTMLResponse:
    """The page with its strict Content-Security-Policy (own scripts, tiles, nothing else)."""
    csp = content_security_policy(html, tile_url=settings.tile_url)
    return HTMLResponse(html, headers={"Content-Security-Policy": csp})


@router.get("/maps/grids", responses={**_PAGE, **_HEAVY_ERRORS}, dependencies=[_HEAVY])
def grids_map(
    access: Annotated[Access, require(Permission.READ_PUBLIC)],
    conn: ConnDep,
    settings: SettingsDep,
    pool: HeavyPoolDep,
    bbox: BBoxDep,
    problems: Annotated[bool, Query(description="highlight topology problems")] = True,
    reports: Annotated[bool, Query(description="show open reports")] = True,
    patrol_coverage: Annotated[
        bool,
        Query(
            description="colour grids by patrol staleness (GPS tracks); needs an account "
            "allowed to read patrol coverage"
        ),
    ] = False,
    patrol_since: Annotated[
        datetime | None,
        Query(description=f"patrol window start (default: a week ago); {NAIVE_TIME}"),
    ] = None,
    patrol_until: Annotated[
        datetime | None, Query(description=f"patrol window end (default: now); {NAIVE_TIME}")
    ] = None,
    patrol_source: Annotated[
        CoverageSource,
        Query(description="patrol coverage of the GPS tracks walked, or of the plans' routes"),
    ] = "walked",
    care_visits: Annotated[
        bool, Query(description="buildings with overdue care visits (counts, no names)")
    ] = True,
) -> HTMLResponse:
    """Districts, communities, grids (code, buildings, residents), buildings coloured by grid
    and open reports as vector tiles; topology problems load after the map is drawn
    (``/maps/grids/problems``); with ``patrol_coverage``, grids coloured by patrol staleness;
    buildings with overdue care visits as counts. ``bbox`` sets the view."""
    if patrol_coverage:
        authorize(access.principal, Permission.READ_PATROL_COVERAGE)
    check_installed()
    window = resolve_window(
        patrol_since, patrol_until, zone=settings.zone, names=("patrol_since", "patrol_until")
    )
    with pool.slot("the grids map"):
        fmap = grids_page(
            conn,
            settings,
            bbox=bbox,
            problems=problems,
            reports=reports,
            tiles=SAME_ORIGIN,
            problems_url=SAME_ORIGIN.url("/maps/grids/problems"),
            patrol_coverage=patrol_coverage,
            patrol_window=window,
            patrol_source=patrol_source,
            care_visits=care_visits,
        )
        html = render(fmap, mode="served")
    return _page(html, settings)


@router.get(
    "/maps/grids/problems",
    response_model=ProblemFeatures,
    response_class=JSONResponse,
    responses={200: media_response("application/geo+json", ProblemFeatures), **_HEAVY_ERRORS},
    dependencies=[require(Permission.READ_PUBLIC), _HEAVY],
)
def grids_map_problems(conn: ConnDep, settings: SettingsDep, pool: HeavyPoolDep) -> Any:
    """The topology problems as the grids map draws them (GeoJSON, styled, with a summary)."""
    with pool.slot("the topology problems"):
        problems = grid_problems(conn, settings)
    return JSONResponse(problems, media_type="application/geo+json")


@router.get(
    CARE_VISITS_PATH,
    response_model=CareVisitFeatures,
    response_class=JSONResponse,
    responses={200: media_response("application/geo+json", CareVisitFeatures)},
    dependencies=[require(Permission.READ_PUBLIC)],
)
def grids_map_care_visits(conn: ConnDep, settings: SettingsDep, bbox: BBoxDep) -> Any:
    """Buildings with overdue care visits as the grids map draws them: counts, never a name
    (GeoJSON, styled). Any page may load it, a standalone map file included."""
    return JSONResponse(
        care_visit_map(conn, settings, bbox=bbox),
        media_type="application/geo+json",
        headers=PUBLIC_CORS,
    )


@router.get(
    "/maps/coverage",
    responses={**_PAGE, **_HEAVY_ERRORS},
    dependencies=[require(Permission.READ_PUBLIC), _HEAVY],
)
def coverage_map(conn: ConnDep, settings: SettingsDep, pool: HeavyPoolDep) -> HTMLResponse:
    """District borders, communities and grids spanning districts by share, enclave parts."""
    check_installed()
    with pool.slot("the coverage map"):
        html = render(coverage_page(conn, settings, tiles=SAME_ORIGIN), mode="served")
    return _page(html, settings)


@router.get(
    "/maps/hotspots",
    responses={**_PAGE, **_HEAVY_ERRORS},
    dependencies=[require(Permission.READ_ANALYTICS), _HEAVY],
)
def hotspots_map(
    conn: ConnDep, settings: SettingsDep, params: HotspotParams, pool: HeavyPoolDep
) -> HTMLResponse:
    """Hot and cold spots coloured by bin, with a heatmap of the reports (same options);
    the analysis is cached by its parameters and the data version."""
    check_installed()
    fmap = hotspots_page(
        conn,
        settings,
        tiles=SAME_ORIGIN,
        slot=lambda: pool.slot("the hotspot map"),
        executor=pool.processes(),
        **params,
    )
    return _page(render(fmap, mode="served"), settings)


@router.get(
    "/maps/service-areas",
    responses={**_PAGE, **_HEAVY_ERRORS},
    dependencies=[require(Permission.READ_ANALYTICS), _HEAVY],
)
def service_areas_map(
    conn: ConnDep,
    settings: SettingsDep,
    params: WalkParams,
    pool: HeavyPoolDep,
    new_sites: Annotated[
        int, Query(ge=0, le=MAX_NEW_SITES, description="also propose this many new sites")
    ] = 0,
) -> HTMLResponse:
    """Walk areas per facility, buildings beyond the limit coloured by walk minutes, those
    served across a district border, district borders; with ``new_sites``, proposed sites."""
    check_installed()
    with pool.slot("the service-areas map"):
        fmap = service_areas_page(conn, settings, tiles=SAME_ORIGIN, new_sites=new_sites, **params)
        html = render(fmap, mode="served")
    return _page(html, settings)


@router.get(
    "/maps/patrols",
    responses={**_PAGE, **error_responses(403, 404)},
    dependencies=[require(Permission.READ_PATROLS, scope_of=plan_query_scope)],
)
def patrols_map(
    conn: ConnDep,
    settings: SettingsDep,
    plan_id: Annotated[
        int, Query(alias="id", ge=-BIGINT_MAX, le=BIGINT_MAX, description="the plan's id")
    ],
) -> HTMLResponse:
    """A patrol plan: routes coloured per patroller with direction arrows, numbered stops with
    arrival times, unserved stops, district borders; a compared plan's other mode toggled."""
    check_installed()
    return _page(render(patrols_page(conn, settings, plan_id=plan_id), mode="served"), settings)
