"""Map pages (HTML), drawn by Folium with every asset served by gridpatrol itself."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from api.deps import BBoxDep, ConnDep, SettingsDep
from api.routes.analytics import HotspotParams
from gis.territory.map_data import DEFAULT_BUILDING_LIMIT
from maps.assets import render
from maps.pages import coverage_page, grids_page, hotspots_page, patrols_page

router = APIRouter(tags=["maps"], default_response_class=HTMLResponse)


@router.get("/maps/grids")
def grids_map(
    conn: ConnDep,
    settings: SettingsDep,
    bbox: BBoxDep,
    building_limit: Annotated[
        int, Query(ge=0, le=50_000, description="most buildings drawn")
    ] = DEFAULT_BUILDING_LIMIT,
    problems: Annotated[bool, Query(description="highlight topology problems")] = True,
    reports: Annotated[bool, Query(description="show open reports")] = True,
    patrol_coverage: Annotated[
        bool, Query(description="colour grids by patrol staleness (GPS tracks)")
    ] = False,
    patrol_since: Annotated[
        datetime | None, Query(description="patrol window start (default: a week ago)")
    ] = None,
    patrol_until: Annotated[
        datetime | None, Query(description="patrol window end (default: now)")
    ] = None,
) -> HTMLResponse:
    """Districts, communities, grids (code, buildings, residents), buildings coloured by grid,
    topology problems and open reports; city-wide grids are simplified, buildings need a
    ``bbox``."""
    fmap = grids_page(
        conn,
        settings,
        bbox=bbox,
        building_limit=building_limit,
        problems=problems,
        reports=reports,
        patrol_coverage=patrol_coverage,
        patrol_since=patrol_since,
        patrol_until=patrol_until,
    )
    return HTMLResponse(render(fmap, mode="served"))


@router.get("/maps/coverage")
def coverage_map(conn: ConnDep, settings: SettingsDep) -> HTMLResponse:
    """District borders, communities and grids spanning districts by share, enclave parts."""
    return HTMLResponse(render(coverage_page(conn, settings), mode="served"))


@router.get("/maps/hotspots")
def hotspots_map(conn: ConnDep, settings: SettingsDep, params: HotspotParams) -> HTMLResponse:
    """Hot and cold spots coloured by bin, with a heatmap of the reports (same options)."""
    return HTMLResponse(render(hotspots_page(conn, settings, **params), mode="served"))


@router.get("/maps/patrols")
def patrols_map(
    conn: ConnDep,
    settings: SettingsDep,
    plan_id: Annotated[int, Query(alias="id", description="the plan's id")],
) -> HTMLResponse:
    """A patrol plan: routes coloured per patroller with direction arrows, numbered stops with
    arrival times, unserved stops, district borders; a compared plan's other mode toggled."""
    return HTMLResponse(render(patrols_page(conn, settings, plan_id=plan_id), mode="served"))
