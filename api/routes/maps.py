"""Map pages (HTML), drawn by Folium with every asset served by gridpatrol itself."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from api.auth import require
from api.deps import BBoxDep, ConnDep, SettingsDep
from api.routes.analytics import HotspotParams
from api.schemas.common import COMMON_ERRORS, error_responses
from gis.core.settings import Settings
from gis.territory.map_data import DEFAULT_BUILDING_LIMIT
from maps.assets import check_installed, content_security_policy, render
from maps.pages import coverage_page, grids_page, hotspots_page

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


def _page(html: str, settings: Settings) -> HTMLResponse:
    """The page with its strict Content-Security-Policy (own scripts, tiles, nothing else)."""
    csp = content_security_policy(html, tile_url=settings.tile_url)
    return HTMLResponse(html, headers={"Content-Security-Policy": csp})


@router.get("/maps/grids", responses=_PAGE, dependencies=[require("read_public")])
def grids_map(
    conn: ConnDep,
    settings: SettingsDep,
    bbox: BBoxDep,
    building_limit: Annotated[
        int, Query(ge=0, le=50_000, description="most buildings drawn")
    ] = DEFAULT_BUILDING_LIMIT,
    problems: Annotated[bool, Query(description="highlight topology problems")] = True,
    reports: Annotated[bool, Query(description="show open reports")] = True,
) -> HTMLResponse:
    """Districts, communities, grids (code, buildings, residents), buildings coloured by grid,
    topology problems and open reports; city-wide grids are simplified, buildings need a
    ``bbox``."""
    check_installed()
    fmap = grids_page(
        conn,
        settings,
        bbox=bbox,
        building_limit=building_limit,
        problems=problems,
        reports=reports,
    )
    return _page(render(fmap, mode="served"), settings)


@router.get("/maps/coverage", responses=_PAGE, dependencies=[require("read_public")])
def coverage_map(conn: ConnDep, settings: SettingsDep) -> HTMLResponse:
    """District borders, communities and grids spanning districts by share, enclave parts."""
    check_installed()
    return _page(render(coverage_page(conn, settings), mode="served"), settings)


@router.get("/maps/hotspots", responses=_PAGE, dependencies=[require("read_analytics")])
def hotspots_map(conn: ConnDep, settings: SettingsDep, params: HotspotParams) -> HTMLResponse:
    """Hot and cold spots coloured by bin, with a heatmap of the reports (same options)."""
    check_installed()
    return _page(render(hotspots_page(conn, settings, **params), mode="served"), settings)
